"""Photos by name (bundled with scikit-image / scikit-learn, no download) and by path, their model
inputs, and the bundled model "efficientnet-lite0" with its data "imagenet-photos"."""

import numpy as np
import pytest
import torch
from PIL import Image

from trace_opt.models.imagenet import preprocess
from trace_opt.models.photos import (
    IMAGENET_PHOTOS,
    PHOTOS,
    load_imagenet_photos,
    load_photo,
    load_photo_input,
    photo_names,
)


def test_every_bundled_photo_loads_offline_as_rgb_uint8():
    assert len(photo_names()) >= 8 and set(IMAGENET_PHOTOS) <= set(PHOTOS)
    shapes = {}
    for name in photo_names():
        photo = load_photo(name)
        assert photo.ndim == 3 and photo.shape[-1] == 3 and photo.dtype == np.uint8, name
        assert photo.std() > 10, name  # a real picture, not a constant
        shapes[name] = photo.shape
    assert shapes["chelsea"] == (300, 451, 3) and shapes["coffee"] == (400, 600, 3)
    assert not np.array_equal(load_photo("motorcycle_left"), load_photo("motorcycle_right"))


def test_a_png_path_gives_the_same_pixels_and_a_jpeg_close_ones(tmp_path):
    photo = load_photo("coffee")
    Image.fromarray(photo).save(tmp_path / "coffee.png")
    np.testing.assert_array_equal(load_photo(tmp_path / "coffee.png"), photo)
    np.testing.assert_array_equal(load_photo(str(tmp_path / "coffee.png")), photo)
    Image.fromarray(photo).save(tmp_path / "coffee.jpg", quality=95)
    jpeg = load_photo(tmp_path / "coffee.jpg")
    assert jpeg.shape == photo.shape and np.abs(jpeg.astype(int) - photo).mean() < 3
    Image.fromarray(photo[..., 0]).save(tmp_path / "grey.png")  # grey files become RGB
    grey = load_photo(tmp_path / "grey.png")
    assert grey.shape == photo.shape and (grey[..., 0] == grey[..., 2]).all()


def test_unknown_names_and_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="neither a bundled photo.*chelsea"):
        load_photo("chelsey")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="could not be read as an image"):
        load_photo(tmp_path / "notes.png")
    with pytest.raises(ValueError, match="photo name"):
        load_photo(3)
    with pytest.raises(ValueError, match="non-empty"):
        load_imagenet_photos([])


def test_photo_inputs_are_the_preprocessed_photos():
    photo, x = load_photo_input("chelsea")
    assert photo.shape == (300, 451, 3) and x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert torch.equal(x, preprocess(photo))
    same_photo, same_x = load_photo_input(photo, size=64, resize="center_crop")
    assert same_photo is not None and torch.equal(same_x, preprocess(photo, 64, "center_crop"))
    X = load_imagenet_photos(["chelsea", "coffee"], size=32)
    assert X.shape == (2, 3, 32, 32) and torch.equal(X[1], preprocess(load_photo("coffee"), 32))


def test_the_bundled_model_and_its_photos_by_name():
    from trace_opt.models.data import BUNDLED_INPUTS, BUNDLED_MODELS, load_model_and_data

    assert BUNDLED_MODELS["efficientnet-lite0"][1] == "imagenet-photos" and "imagenet-photos" in BUNDLED_INPUTS
    model, X = load_model_and_data("efficientnet-lite0", None)
    assert model.weights_source.startswith("package:") and X.shape == (len(IMAGENET_PHOTOS), 3, 224, 224)
    with pytest.raises(ValueError, match="imagenet-photos"):
        load_model_and_data("efficientnet-lite0", "imagenet-photo")


def test_image_files_and_folders_are_command_line_inputs(tmp_path):
    """--data takes a PNG/JPEG file or a folder of them: each resized and normalised as the ImageNet model expects,
    in name order; a folder without images is refused with its name."""
    from PIL import Image

    from trace_opt.models.data import load_inputs
    from trace_opt.models.photos import load_photo_input

    rng = np.random.default_rng(0)
    for name in ("b.png", "a.jpg"):
        Image.fromarray(rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    X = load_inputs(str(tmp_path))
    assert X.shape == (2, 3, 224, 224)
    assert torch.equal(X[0], load_photo_input(str(tmp_path / "a.jpg"))[1])  # sorted by name: a.jpg first
    assert load_inputs(str(tmp_path / "b.png")).shape == (1, 3, 224, 224)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="without .png/.jpg/.jpeg files"):
        load_inputs(str(empty))


def test_a_big_photo_file_is_reduced_when_read(tmp_path):
    """Issue 32: memory follows the work, not the file: a 6,000 x 4,000 JPEG is read at MAX_SIDE on its longer
    side (JPEG decoded at a reduced scale), the aspect kept, and gives the usual model input."""
    from PIL import Image

    from trace_opt.models.photos import MAX_SIDE, load_photo_input

    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (200, 40, 90)).save(path, quality=60)
    photo, x = load_photo_input(path)
    assert max(photo.shape[:2]) == MAX_SIDE and abs(photo.shape[1] / photo.shape[0] - 1.5) < 0.01
    assert tuple(x.shape) == (3, 224, 224)


def test_a_tiny_photo_file_is_refused(tmp_path):
    """Issue 32: a 1 x 1 PNG was explained (value 0.00045, AUC-Le = AUC-Mo) with no warning."""
    from PIL import Image

    from trace_opt.models.photos import load_photo

    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    with pytest.raises(ValueError, match="1 x 1 pixels: too small to explain"):
        load_photo(path)
