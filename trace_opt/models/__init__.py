"""The torch layer: oracles over torch models and black-box callables (``oracles``), what deletion writes
(``references``), the bundled data and small architectures with their shipped weights (``data``,
``architectures``, ``weights/``), a pretrained ImageNet network (``imagenet``: EfficientNet-Lite0) and
real photographs (``photos``). Depends on ``trace_opt.core``; nothing below it imports torch."""
