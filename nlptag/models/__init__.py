"""Plain ``nn.Module`` networks: embeddings, encoders, attention, heads, CRF, decoders and search.

Shape letters: every docstring and comment in this package writes a tensor's shape as a tuple
of the letters below, each with the same meaning in every file. ``(B, T, F)`` is a batch of B
padded sequences of T positions, each a vector of F features; ``(B,)`` is one value per batch
row, ``(C, C)`` a square matrix and ``(..., H)`` any leading dimensions. ``B * K`` is a single
dimension of that size (the rows of a beam search, flattened), and a primed letter (``B'``) is a
smaller count of the same kind. A number in a shape (``(B, T, 1)``) is that size; a lower-case
name (``(B, num_filters)``) is the size given by that constructor argument.

=====  ===========================================================================================
B      batch: the inputs processed together (sentences, texts, parallel streams of a language
       model; the words a character model reads)
T      time steps: positions of a padded sequence (words of a sentence, characters of a language
       model's stream, target tokens of a translation: teacher-forced or searched)
S      source length: tokens of a padded source sentence (translation, attention)
R      image regions: the cells of an image encoder's feature grid (49 for a 7x7 grid), which a
       caption decoder attends over
L      characters per word, padded
E      embedding size: the vector each token enters a recurrent network with (a word
       representation, a character or target embedding)
H      hidden size of a recurrent layer, per direction; also a decoder's attentional vector and
       the attention query
D      directions of a recurrent layer: 1, or 2 when bidirectional
N      stacked recurrent layers
F      feature size: the vector per position that an encoder outputs (D * H for a recurrent
       encoder), read by tagging heads, pooling and attention (keys and values)
P      pooled size: the one vector per sequence that a pooling outputs (F for the poolings here)
A      attention size: what attention projects keys or positions to before scoring them
C      classes: tags (tagging) or labels (classification)
K      hypotheses per input: the beams of a beam search, the paths of a CRF's k-best decoding
V      vocabulary size of an output layer: target subwords (translation) or characters
       (language model)
=====  ===========================================================================================
"""
