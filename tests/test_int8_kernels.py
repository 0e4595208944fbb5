"""benchmarks/int8_kernels' counts: the multiply-adds it divides by, and the batches it runs."""

import torch
from torch import nn

from benchmarks import int8_kernels


def test_multiply_adds_per_token_equal_the_weight_matrices_entries():
    # an LSTM does one multiply-add per entry of each weight matrix at each position
    for rnn in (
        nn.LSTM(7, 5, num_layers=2, bidirectional=True),
        nn.LSTM(7, 5, num_layers=3),
        nn.LSTM(3, 4, bidirectional=True),
    ):
        weights = sum(p.numel() for name, p in rnn.named_parameters() if name.startswith("weight"))
        assert int8_kernels.multiply_adds_per_token(rnn) == weights


def test_encoder_batches_follow_the_sorted_test_set(tmp_path):
    lengths = [3, 1, 5, 2, 4]
    sentences = []
    for number, length in enumerate(lengths):
        rows = [f"{i + 1}\tw{i}\t_\tNOUN\t_\t_\t0\troot\t_\t_" for i in range(length)]
        sentences.append(f"# sent_id = {number}\n" + "\n".join(rows) + "\n")
    test_file = tmp_path / "test.conllu"
    test_file.write_text("\n".join(sentences) + "\n")
    batches = int8_kernels.encoder_batches(test_file, 6, batch_size=2)
    assert [lengths.tolist() for _, lengths in batches] == [[5, 4], [3, 2], [1]]
    assert [tuple(inputs.shape) for inputs, _ in batches] == [(2, 5, 6), (2, 3, 6), (1, 1, 6)]
    assert all(inputs.abs().max() <= 1 for inputs, _ in batches)
    again = int8_kernels.encoder_batches(test_file, 6, batch_size=2)  # the same inputs each time
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
