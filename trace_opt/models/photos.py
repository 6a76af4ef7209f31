"""Real colour photographs, by name or by path, and their ImageNet model inputs.

The bundled photos ship inside scikit-image (``skimage.data``) and scikit-learn
(``load_sample_image``): no download. ``PHOTOS`` names them; ``IMAGENET_PHOTOS`` are the eight
everyday scenes (data name ``"imagenet-photos"``); the three scientific images (a galaxy field, a
stained tissue, a retina) are bundled too but hold no ImageNet object.

* ``load_photo(source)``: the original photo, ``H x W x 3`` uint8 RGB, from a name in ``PHOTOS`` or a
  PNG / JPEG / other Pillow-readable file (grey and RGBA files are converted to RGB).
* ``load_photo_input(source, size=224, resize="stretch")``: ``(photo, x)`` with ``x`` the model input
  ``3 x size x size`` float32 (``imagenet.preprocess``). ``stretch`` (the default) resizes the whole photo
  to the square, so every pixel of the photo belongs to the input and a feature map on the input maps
  back onto the whole photo; ``center_crop`` keeps the aspect ratio and cuts off the sides.
* ``load_imagenet_photos(names=IMAGENET_PHOTOS, ...)``: the inputs stacked, ``(N, 3, size, size)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from trace_opt.models.imagenet import INPUT_SIZE, preprocess


def _skimage(name: str):
    def load():
        from skimage import data

        return (
            data.stereo_motorcycle()[0 if name == "motorcycle_left" else 1]
            if name.startswith("motorcycle")
            else getattr(data, name)()
        )

    return load


def _sklearn(filename: str):
    def load():
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


#: bundled photos by name: (loader, what it shows)
PHOTOS = {
    "chelsea": (_skimage("chelsea"), "a tabby cat (scikit-image, 300 x 451)"),
    "coffee": (_skimage("coffee"), "a cup of espresso on a saucer (scikit-image, 400 x 600)"),
    "astronaut": (_skimage("astronaut"), "astronaut Eileen Collins (scikit-image, 512 x 512)"),
    "rocket": (_skimage("rocket"), "a rocket on its launch pad (scikit-image, 427 x 640)"),
    "motorcycle_left": (_skimage("motorcycle_left"), "a motorcycle, left stereo view (scikit-image, 500 x 741)"),
    "motorcycle_right": (_skimage("motorcycle_right"), "a motorcycle, right stereo view (scikit-image, 500 x 741)"),
    "china": (_sklearn("china.jpg"), "a Chinese temple (scikit-learn, 427 x 640)"),
    "flower": (_sklearn("flower.jpg"), "a flower with an insect (scikit-learn, 427 x 640)"),
    "hubble_deep_field": (_skimage("hubble_deep_field"), "Hubble deep field galaxies (scikit-image, 872 x 1000)"),
    "immunohistochemistry": (_skimage("immunohistochemistry"), "stained tissue (scikit-image, 512 x 512)"),
    "retina": (_skimage("retina"), "a human retina (scikit-image, 1411 x 1411)"),
}
#: the everyday scenes among ``PHOTOS`` (the bundled data ``"imagenet-photos"``)
IMAGENET_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle_left", "motorcycle_right", "china", "flower")


def photo_names() -> list[str]:
    """The names of the bundled photos."""
    return list(PHOTOS)


def _as_rgb_uint8(img, where: str) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    elif a.ndim == 3 and a.shape[-1] == 4:
        a = a[..., :3]
    if a.ndim != 3 or a.shape[-1] != 3 or a.dtype != np.uint8 or min(a.shape[:2]) < 1:
        raise ValueError(f"{where} is not an RGB image of 8-bit pixels (got shape {a.shape}, dtype {a.dtype})")
    return np.ascontiguousarray(a)


#: a photo file larger than this on its longer side (pixels) is reduced to it when read: memory follows the work
#: (a 224 px model input and a figure), not the file (a 10,000 x 10,000 JPEG is decoded at 1/4 scale)
MAX_SIDE = 2048
#: a photo file smaller than this on either side (pixels) is refused: resized to the model's input it is flat
MIN_SIDE = 16


def load_photo(source) -> np.ndarray:
    """The original photo ``H x W x 3`` uint8 (RGB): a bundled name (``photo_names()``) or a path to an
    image file Pillow reads (PNG, JPEG, ...), reduced to ``MAX_SIDE`` pixels on its longer side when larger
    (aspect kept). A name that is neither, or a file that is no image, is a ValueError."""
    if isinstance(source, str) and source in PHOTOS:
        return _as_rgb_uint8(PHOTOS[source][0](), f"bundled photo {source!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"source={source!r} is not valid; expected a photo name {photo_names()} or a path")
    path = Path(source)
    if path.is_dir():
        raise ValueError(
            f"source={str(source)!r} is a folder, not one photo: give a photo file or a bundled name "
            f"{photo_names()}, or explain a folder of photos with --data FOLDER (explain, "
            "explain-dataset, evaluate)"
        )
    if not path.is_file():
        raise ValueError(f"source={str(source)!r} is neither a bundled photo {photo_names()} nor an existing file")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if max(im.size) > MAX_SIDE:  # decoded reduced (JPEG: at 1/2, 1/4 or 1/8 scale) before any copy
                im.draft("RGB", (MAX_SIDE, MAX_SIDE))
                im.thumbnail((MAX_SIDE, MAX_SIDE))
            rgb = im.convert("RGB")
            rgb.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ValueError(f"source={str(source)!r} could not be read as an image: {type(exc).__name__}: {exc}") from None
    photo = _as_rgb_uint8(np.asarray(rgb), f"source={str(source)!r}")
    if min(photo.shape[:2]) < MIN_SIDE:
        raise ValueError(
            f"source={str(source)!r} is a photo of {photo.shape[1]} x {photo.shape[0]} pixels: too small to "
            f"explain (resized to the model's input it is a flat image); expected at least {MIN_SIDE} "
            "pixels on each side"
        )
    return photo


def load_photo_input(source, size: int = INPUT_SIZE, resize: str = "stretch") -> tuple[np.ndarray, torch.Tensor]:
    """``(photo, x)``: the original photo (``load_photo``; an ``H x W x 3`` uint8 array is taken as is) and
    its model input ``3 x size x size`` float32 (resized by ``resize``, ImageNet mean/std)."""
    photo = _as_rgb_uint8(source, "photo") if isinstance(source, np.ndarray) else load_photo(source)
    return photo, preprocess(photo, size=size, resize=resize)


def load_imagenet_photos(names=IMAGENET_PHOTOS, size: int = INPUT_SIZE, resize: str = "stretch") -> torch.Tensor:
    """The model inputs of the named photos (default: the eight everyday scenes), ``(N, 3, size, size)``."""
    if isinstance(names, str) or len(names) == 0:
        raise ValueError(f"names must be a non-empty list of photo names or paths; got {names!r}")
    return torch.stack([load_photo_input(n, size, resize)[1] for n in names])
