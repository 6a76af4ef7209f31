"""Small architectures defined here (no torchvision): CNNs for digits, an MLP for tabular data.

All return raw class scores (logits) of shape ``(B, n_classes)``; none has dropout or batch norm,
so a model in eval mode is a deterministic function and D(S) is a set function.
"""

from __future__ import annotations

import torch
from torch import nn

from trace_opt.core.validation import check_positive_int


class DigitsCNN8(nn.Module):
    """CNN for ``1 x 8 x 8`` digits: two 3x3 convolutions, one 2x2 max-pool, two linear layers.

    ``(B, 1, 8, 8) -> conv16 -> conv32 -> pool -> (B, 32*4*4) -> 64 -> n_classes``.
    """

    arch = "digits-cnn8"
    input_shape = (1, 8, 8)

    def __init__(self, n_classes: int = 10, width: int = 16):
        super().__init__()
        n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        width = check_positive_int("width", width)
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * 16, 64), nn.ReLU(), nn.Linear(64, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class _TwoPoolCNN(nn.Module):
    """Two conv + max-pool stages and two linear layers on ``1 x side x side`` inputs (``side`` divisible by
    4): ``conv(width), pool -> conv(2 width), pool -> (B, 2 width (side/4)^2) -> 64 -> n_classes``."""

    side = 28

    def __init__(self, n_classes: int = 10, width: int = 16):
        super().__init__()
        n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        width = check_positive_int("width", width)
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * (self.side // 4) ** 2, 64), nn.ReLU(), nn.Linear(64, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class DigitsCNN28(_TwoPoolCNN):
    """CNN for ``1 x 28 x 28`` inputs: two conv + max-pool stages (28 -> 14 -> 7), two linear layers.

    ``(B, 1, 28, 28) -> conv16, pool -> conv32, pool -> (B, 32*7*7) -> 64 -> n_classes``.
    """

    arch = "digits-cnn28"
    input_shape = (1, 28, 28)
    side = 28


class BamCNN16(_TwoPoolCNN):
    """CNN for ``1 x 16 x 16`` inputs (the BAM-style digits-on-textures images of
    ``trace_opt.faithfulness.bam``): two conv + max-pool stages (16 -> 8 -> 4), two linear layers.

    ``(B, 1, 16, 16) -> conv16, pool -> conv32, pool -> (B, 32*4*4) -> 64 -> n_classes``.
    """

    arch = "bam-cnn16"
    input_shape = (1, 16, 16)
    side = 16


class TabularMLP(nn.Module):
    """MLP for tabular rows: ``(B, n_features) -> hidden -> hidden -> n_classes`` with ReLU."""

    arch = "tabular-mlp"

    def __init__(self, n_features: int, n_classes: int = 2, hidden: int = 32):
        super().__init__()
        self.n_features = check_positive_int("n_features", n_features)
        n_classes = check_positive_int("n_classes", n_classes, minimum=2)
        hidden = check_positive_int("hidden", hidden)
        self.net = nn.Sequential(
            nn.Linear(self.n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
