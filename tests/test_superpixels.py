"""Superpixel features (scikit-image SLIC / felzenszwalb) computed on the photo and sampled onto the
model input's grid: contiguous ids, full coverage, exact pixel-centre mapping, and use in explain."""

import subprocess
import sys

import numpy as np
import pytest
from skimage import data

from trace_opt.core.features import superpixel_features


def _check_partition(feats, shape):
    assert feats.ids.shape == shape and feats.kind == "segmentation"
    assert np.array_equal(np.unique(feats.ids), np.arange(feats.t))  # contiguous 0..t-1, every id used
    assert feats.counts().sum() == shape[0] * shape[1] and feats.counts().min() >= 1


@pytest.mark.parametrize("method", ["slic", "felzenszwalb"])
def test_superpixels_of_a_photo_on_the_224_grid(method):
    photo = data.chelsea()
    feats = superpixel_features(photo, n_segments=49, method=method, shape=(224, 224))
    _check_partition(feats, (224, 224))
    assert 40 <= feats.t <= 60  # about what was asked (the count is searched; chelsea: 51 and 45)
    again = superpixel_features(photo, n_segments=49, method=method, shape=(224, 224))
    assert np.array_equal(feats.ids, again.ids)  # deterministic


@pytest.mark.parametrize("method", ["slic", "felzenszwalb"])
def test_the_count_search_follows_the_asked_count(method):
    from skimage.segmentation import slic

    photo = data.chelsea()[::2, ::2]
    assert len(np.unique(slic(photo, n_segments=9, start_label=0))) < 6  # skimage alone: far fewer than asked
    counts = [superpixel_features(photo, n_segments=n, method=method).t for n in (9, 30, 90)]
    assert counts[0] < counts[1] < counts[2]
    assert all(abs(c - n) <= 0.2 * n for n, c in zip((9, 30, 90), counts)), counts


def test_the_map_is_sampled_at_input_pixel_centres_for_stretch_and_centre_crop():
    img = np.zeros((30, 60, 3), dtype=np.uint8)
    img[:, :20] = (255, 0, 0)  # the left third red, the rest blue
    img[:, 20:] = (0, 0, 255)
    kw = dict(method="felzenszwalb", scale=100.0, sigma=0.0, min_size=10)
    whole = superpixel_features(img, n_segments=2, **kw)
    assert whole.t == 2 and (whole.ids[:, :20] == 0).all() and (whole.ids[:, 20:] == 1).all()
    stretch = superpixel_features(img, n_segments=2, shape=(12, 12), **kw)
    # column j samples source column floor((j + 0.5) * 60 / 12): 2, 7, 12, 17 are red, 22.. blue
    assert (stretch.ids[:, :4] == 0).all() and (stretch.ids[:, 4:] == 1).all()
    crop = superpixel_features(img, n_segments=2, shape=(12, 12), resize="center_crop", **kw)
    # the centre square is columns 15..44; column j samples 15 + floor((j + 0.5) * 30 / 12): 16, 18 red, 21.. blue
    assert (crop.ids[:, :2] == 0).all() and (crop.ids[:, 2:] == 1).all()
    from trace_opt.models.imagenet import center_crop_box

    assert center_crop_box((30, 60)) == (0, 15, 30)  # the same crop as the model input's


def test_a_segment_lost_in_sampling_is_relabelled_away():
    img = np.zeros((40, 40, 3), dtype=np.uint8)
    img[:, 20:] = 200
    img[0, 0] = 90  # one pixel of its own colour: its own segment with min_size=1
    kw = dict(method="felzenszwalb", scale=1.0, sigma=0.0, min_size=1)
    feats_full = superpixel_features(img, n_segments=3, **kw)
    small = superpixel_features(img, n_segments=3, shape=(4, 4), **kw)
    assert feats_full.t == 3 and small.t == 2  # the one-pixel segment is not sampled: t says so
    _check_partition(small, (4, 4))


def test_grey_images_and_bad_arguments():
    grey = data.camera()[::4, ::4]
    _check_partition(superpixel_features(grey, n_segments=16, shape=(32, 32)), (32, 32))
    with pytest.raises(ValueError, match="method"):
        superpixel_features(grey, method="quick")
    with pytest.raises(ValueError, match="unknown option"):
        superpixel_features(grey, method="slic", scale=3)
    with pytest.raises(ValueError, match="n_segments"):
        superpixel_features(grey, n_segments=1)
    with pytest.raises(ValueError, match="image must be"):
        superpixel_features(np.zeros((5, 5, 4)))
    with pytest.raises(ValueError, match="shape"):
        superpixel_features(grey, shape=(3, 3, 3))


def test_importing_the_core_loads_neither_skimage_nor_torch():
    code = (
        "import sys, trace_opt.core.features as f; assert callable(f.superpixel_features); "
        "bad = [m for m in ('skimage', 'torch') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_superpixels_explain_an_additive_model_exactly():
    """D = sum of the kept input: each feature contributes the sum of its pixels, so the exact optimum
    of Le-Mo deletes features in increasing contribution order."""
    import trace_opt

    feats = superpixel_features(data.chelsea(), n_segments=9, shape=(24, 24))
    assert 6 <= feats.t <= 12
    x = np.random.default_rng(1).normal(size=(3, 24, 24)).astype(np.float32)
    exp = trace_opt.explain(
        lambda batch: batch.reshape(len(batch), -1).sum(axis=1),
        x,
        features=feats,
        solver="exact",
        output="raw",
        threads=None,
    )
    contribution = np.bincount(feats.ids.ravel(), weights=x.sum(axis=0).ravel(), minlength=feats.t)
    assert list(exp.trajectory) == list(np.argsort(contribution, kind="stable"))
