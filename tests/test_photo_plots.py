"""Figures on the original photo: the heatmap sampled back from the input grid (exact pixel mapping
for stretch and centre crop), the deletion sequence and the summary figure, saved to files."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import trace_opt
from trace_opt.core.features import grid_features, superpixel_features
from trace_opt.explanation.photo_plots import (
    photo_deletion_images,
    photo_heatmap,
    photo_to_input_index,
    plot_photo_deletion_sequence,
    plot_photo_explanation,
    plot_photo_heatmap,
)
from trace_opt.models.imagenet import IMAGENET_MEAN
from trace_opt.models.photos import load_photo_input


def test_the_heatmap_is_sampled_back_onto_the_photo_pixel_by_pixel():
    feats = grid_features((4, 4), 2)  # features 0 1 / 2 3 on a 4 x 4 input
    sigma = [3, 0, 2, 1]  # ranks: f3 -> 0, f0 -> 1, f2 -> 2, f1 -> 3
    hm = photo_heatmap((6, 10), feats, sigma, smooth=False)
    expected = np.array([[2, 4], [3, 1]]) / 4  # (rank + 1) / t per quadrant
    assert hm.shape == (6, 10)
    np.testing.assert_allclose(hm[:3, :5], expected[0, 0])
    np.testing.assert_allclose(hm[:3, 5:], expected[0, 1])
    np.testing.assert_allclose(hm[3:, :5], expected[1, 0])
    np.testing.assert_allclose(hm[3:, 5:], expected[1, 1])
    np.testing.assert_allclose(photo_heatmap((6, 10), feats, sigma, alpha=2.0, smooth=False), hm**2)
    crop = photo_heatmap((6, 10), feats, sigma, resize="center_crop", smooth=False)
    assert np.isnan(crop[:, :2]).all() and np.isnan(crop[:, 8:]).all()  # outside the centre 6 x 6
    np.testing.assert_allclose(crop[:3, 2:5], expected[0, 0])
    np.testing.assert_allclose(crop[3:, 5:8], expected[1, 1])


def test_photo_to_input_index_inverts_the_superpixel_sampling():
    rows, cols = photo_to_input_index((300, 451), (224, 224))
    assert rows.min() == 0 and rows.max() == 223 and cols.min() == 0 and cols.max() == 223
    assert np.all(np.diff(rows) >= 0) and np.all(np.diff(cols) >= 0)


@pytest.fixture(scope="module")
def chelsea_explanation():
    """chelsea at 56 px under a black-box score (the mean red minus the mean blue of the input): fast."""
    photo, x = load_photo_input("chelsea", size=56)
    feats = superpixel_features(photo, n_segments=12, shape=(56, 56))
    exp = trace_opt.explain(
        lambda b: b[:, 0].mean(axis=(1, 2)) - b[:, 2].mean(axis=(1, 2)),
        x.numpy(),
        features=feats,
        solver="greedy",
        output="raw",
        threads=None,
    )
    return photo, exp


def test_heatmap_deletion_sequence_and_summary_figures_are_saved(tmp_path, chelsea_explanation):
    photo, exp = chelsea_explanation
    fig = plot_photo_heatmap(photo, exp.features, exp.trajectory, path=tmp_path / "heatmap.png")
    labels = [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    assert labels[0].startswith("least important") and labels[-1] == "most important"
    plt.close(fig)
    plt.close(plot_photo_deletion_sequence(exp, photo, ks=[0, 3, exp.oracle.t], path=tmp_path / "sequence.png"))
    plt.close(plot_photo_explanation(photo, exp, class_name="Egyptian cat", path=tmp_path / "summary.png"))
    for name in ("heatmap.png", "sequence.png", "summary.png"):
        assert (tmp_path / name).stat().st_size > 5000


def test_deletion_images_show_what_the_model_saw(chelsea_explanation):
    photo, exp = chelsea_explanation
    t = exp.oracle.t
    images, values = photo_deletion_images(exp, [0, t], "lerf", photo_shape=photo.shape[:2])
    assert images.shape == (2, *photo.shape) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_allclose(values, exp.curves.lerf_deletion[[0, t]])
    assert np.abs(images[0] - photo / 255).mean() < 0.05  # nothing deleted: the photo (through 56 px)
    # all deleted with the zeros reference: the normalised input is 0 everywhere, i.e. the ImageNet mean colour
    np.testing.assert_allclose(images[1], np.broadcast_to(IMAGENET_MEAN, photo.shape), atol=1e-6)
    with pytest.raises(ValueError, match="ks"):
        photo_deletion_images(exp, [t + 1])


def test_photo_figure_reads_like_the_digits_one():
    """Issue 32, point 5: crisp patches (one colour each), every rank written for t <= 64 (the least and most
    important 5 above), a wrapped title, a colour bar as tall as the photo."""
    import matplotlib.pyplot as plt

    from trace_opt.core.features import grid_features
    from trace_opt.explanation.photo_plots import RANKS_SHOWN, plot_photo_heatmap

    photo = np.full((300, 450, 3), 128, dtype=np.uint8)
    sigma = np.random.default_rng(0).permutation(49)
    title = "efficientnet-lite0: class 285 (Egyptian cat), TRACE-le-mo on logit, t = 49 and a long tail"
    fig = plot_photo_heatmap(photo, grid_features((224, 224), 7), sigma, title=title)
    ax, cax = fig.axes
    numbers = sorted(int(t.get_text()) for t in ax.texts)
    assert numbers == list(range(1, 50))
    assert "\n" in ax.get_title()
    heat = ax.images[1].get_array()
    assert len(np.unique(np.asarray(heat.compressed()))) == 49  # one flat value per patch, nothing blended
    a, b = ax.get_position(), cax.get_position()
    assert abs(a.height - b.height) < 0.02 * a.height  # the bar beside the photo, as tall as it
    plt.close(fig)
    fig = plot_photo_heatmap(photo, grid_features((224, 224), 10), np.random.default_rng(1).permutation(100))
    assert len(fig.axes[0].texts) == 2 * RANKS_SHOWN
    plt.close(fig)
