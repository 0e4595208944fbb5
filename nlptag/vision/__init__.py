"""Images for captioning: reading and resizing photos (:mod:`~nlptag.vision.images`), frozen image
encoders (:mod:`~nlptag.vision.encoders`) and the on-disk feature cache
(:mod:`~nlptag.vision.features`). Torch and Pillow only; EfficientNet comes with the optional
``vision`` extra (``pip install -e ".[vision]"``).
"""
