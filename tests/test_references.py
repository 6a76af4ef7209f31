"""References: each kind has the right values; random ones are drawn once from the seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from trace_opt import (
    REFERENCE_KINDS,
    ModelOracle,
    grid_features,
    make_reference,
    segmentation_features,
    tabular_features,
)
from trace_opt.models.references import check_reference_options

torch.set_num_threads(1)


@pytest.fixture
def image():
    return torch.rand(3, 10, 13, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.fixture
def feats():
    return grid_features((10, 13), (3, 4))  # uneven patches


def test_all_kinds_keep_shape_and_dtype(image, feats):
    for kind in REFERENCE_KINDS:
        ref = make_reference(kind, image.float(), feats)
        assert ref.shape == image.shape and ref.dtype == torch.float32, kind
        assert torch.isfinite(ref).all()


def test_zeros_constant_and_number(image, feats):
    assert torch.equal(make_reference("zeros", image, feats), torch.zeros_like(image))
    assert torch.equal(make_reference("constant", image, feats, value=0.7), torch.full_like(image, 0.7))
    assert torch.equal(make_reference(0.25, image, feats), torch.full_like(image, 0.25))


def test_mean_and_channel_mean(image, feats):
    x = image.numpy()
    np.testing.assert_allclose(make_reference("mean", image, feats).numpy(), np.full(x.shape, x.mean()), rtol=1e-12)
    cm = make_reference("channel_mean", image, feats).numpy()
    for c in range(3):
        np.testing.assert_allclose(cm[c], np.full(x.shape[1:], x[c].mean()), rtol=1e-12)
    assert not np.allclose(cm[0], cm[1])
    # H x W (no channel dim): one channel, the global mean (not one mean per row)
    hw = torch.arange(12.0).reshape(3, 4)
    assert torch.equal(make_reference("channel_mean", hw, grid_features((3, 4), 2)), torch.full((3, 4), 5.5))


def test_patch_mean_is_each_features_mean(image, feats):
    x = image.numpy()
    ref = make_reference("patch_mean", image, feats).numpy()
    ids = feats.ids
    for i in range(feats.t):
        sel = ids == i
        for c in range(3):  # each channel's mean over the feature's pixels (not mixed across channels)
            np.testing.assert_allclose(ref[c, sel], x[c, sel].mean(), rtol=1e-12)
    # a colour patch keeps its colour: channel 0 all zeros and channel 1 all tens stay 0 and 10
    two = torch.stack([torch.zeros(2, 4), torch.full((2, 4), 10.0)])
    ref2 = make_reference("patch_mean", two, grid_features((2, 4), (1, 2)))
    assert torch.equal(ref2, two)
    # a feature map over every element (C x H x W): the mean over the feature's elements in all channels
    full = torch.as_tensor(np.broadcast_to(feats.ids, x.shape).copy())
    ref3 = make_reference("patch_mean", image, segmentation_features(full.numpy())).numpy()
    for i in range(feats.t):
        sel = np.broadcast_to(ids == i, x.shape)
        np.testing.assert_allclose(ref3[sel], x[sel].mean(), rtol=1e-12)
    # tabular: per-group means of a 1-D row
    row = torch.arange(6, dtype=torch.float64)
    tab = tabular_features(6, groups=[[0, 5], [1, 2, 3], [4]])
    np.testing.assert_allclose(make_reference("patch_mean", row, tab).numpy(), [2.5, 2, 2, 2, 4, 2.5])


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_blur_keeps_a_constant_image_constant(sigma, feats):
    x = torch.full((3, 10, 13), 0.37, dtype=torch.float64)
    np.testing.assert_allclose(make_reference("blur", x, feats, sigma=sigma).numpy(), 0.37, rtol=1e-12)
    small = torch.full((2, 3), -1.5, dtype=torch.float64)  # smaller than the kernel radius
    np.testing.assert_allclose(
        make_reference("blur", small, grid_features((2, 3), (1, 3)), sigma=sigma).numpy(), -1.5, rtol=1e-12
    )


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_blur_equals_scipy_gaussian_filter(image, feats, sigma):
    # scipy's kernel radius int(3 * sigma + 0.5) equals ceil(3 * sigma) for these sigmas; 'mirror' = torch 'reflect'
    ref = make_reference("blur", image, feats, sigma=sigma).numpy()
    expected = gaussian_filter(image.numpy(), sigma=(0, sigma, sigma), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(ref, expected, rtol=1e-10, atol=1e-12)


def test_blur_sigma_matters_and_stays_in_range(image, feats):
    a = make_reference("blur", image, feats, sigma=0.5)
    b = make_reference("blur", image, feats, sigma=3.0)
    assert not torch.allclose(a, b)
    assert b.std() < a.std() < image.std()  # wider blur, smoother image
    for r in (a, b):  # a convex combination of the input's values
        assert r.min() >= image.min() - 1e-12 and r.max() <= image.max() + 1e-12


def test_noise_is_drawn_once_from_the_seed(feats):
    x = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(1))
    f = grid_features((40, 40), 4)
    a = make_reference("noise", x, f, seed=5)
    b = make_reference("noise", x, f, seed=5)
    c = make_reference("noise", x, f, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # default: around x's mean with x's std (4,800 draws: tolerances are > 6 standard errors)
    assert float(a.mean()) == pytest.approx(float(x.mean()), abs=0.03)
    assert float(a.std()) == pytest.approx(float(x.std()), rel=0.07)
    d = make_reference("noise", x, f, seed=5, noise_std=2.0)
    assert float(d.std()) == pytest.approx(2.0, rel=0.07)
    # the same standard-normal draw scaled: d - mean = (a - mean) * 2 / std(x)
    np.testing.assert_allclose((d - x.mean()).numpy(), ((a - x.mean()) * 2.0 / x.std()).numpy(), rtol=1e-4, atol=1e-5)


def test_noise_reference_makes_D_a_set_function():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3)).eval()
    x = torch.rand(1, 6, 6)
    o1 = ModelOracle(model, x, 1, features=3, reference="noise", seed=3, cache=False)
    o2 = ModelOracle(model, x, 1, features=3, reference="noise", seed=3, cache=False)
    assert torch.equal(o1.reference, o2.reference)
    masks = np.random.default_rng(0).random((5, 9)) < 0.5
    np.testing.assert_array_equal(o1.evaluate(masks), o1.evaluate(masks))
    np.testing.assert_array_equal(o1.evaluate(masks), o2.evaluate(masks))


def test_user_tensor_reference(image, feats):
    user = torch.rand(3, 10, 13, dtype=torch.float64)
    ref = make_reference(user, image, feats)
    assert torch.equal(ref, user)
    user[0, 0, 0] = 99.0  # a copy: later edits of the user's tensor do not change it
    assert ref[0, 0, 0] != 99.0
    arr = np.ones((3, 10, 13))
    assert torch.equal(make_reference(arr, image, feats), torch.ones_like(image))


def test_bad_references_are_refused(image, feats):
    with pytest.raises(ValueError, match="reference tensor has shape"):
        make_reference(torch.zeros(3, 10, 12), image, feats)
    with pytest.raises(ValueError, match="reference tensor has shape"):
        make_reference(np.zeros((10, 13)), image, feats)
    with pytest.raises(ValueError, match="reference='gauss'"):
        make_reference("gauss", image, feats)
    with pytest.raises(ValueError, match="reference=True"):
        make_reference(True, image, feats)
    with pytest.raises(ValueError, match="sigma"):
        make_reference("blur", image, feats, sigma=0.0)
    with pytest.raises(ValueError, match="noise_std"):
        make_reference("noise", image, feats, noise_std=-1.0)
    row = torch.rand(6)
    tab = tabular_features(6)
    with pytest.raises(ValueError, match="blur"):
        make_reference("blur", row, tab)
    with pytest.raises(ValueError, match="channel_mean"):
        make_reference("channel_mean", row, tab)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_references_are_refused(image, feats, bad):
    user = torch.rand(3, 10, 13, dtype=torch.float64)
    user[1, 2, 3] = bad
    for given in (user, user.numpy()):
        with pytest.raises(ValueError, match="reference contains 1 NaN or infinite"):
            make_reference(given, image, feats)
    with pytest.raises(ValueError, match="reference contains"):
        make_reference(bad, image, feats)
    with pytest.raises(ValueError, match="value contains"):
        make_reference("constant", image, feats, value=bad)
    with pytest.raises(ValueError, match="value must hold numbers"):
        make_reference("constant", image, feats, value="0.5")


def test_options_a_reference_does_not_use_are_refused(image, feats):
    """sigma with reference='zeros' used to be ignored silently."""
    for kind, options in (
        ("zeros", {"sigma": -3}),
        ("blur", {"value": 1.0}),
        ("constant", {"noise_std": 1.0}),
        (0.5, {"sigma": 1.0}),
        (torch.zeros(3, 10, 13), {"value": 0.0}),
    ):
        name = next(iter(options))
        with pytest.raises(ValueError, match=f"{name}=.* is only used by reference="):
            make_reference(kind, image, feats, **options)
    # None means "not given"; the seed is accepted by every kind (explain always passes its seed)
    assert torch.equal(make_reference("zeros", image, feats, sigma=None, seed=3), torch.zeros_like(image))
    assert torch.equal(make_reference("constant", image, feats), torch.zeros_like(image))
    with pytest.raises(ValueError, match="seed"):
        make_reference("noise", image, feats, seed=-1)
    check_reference_options("blur", {"sigma": 1.0})
    unknown = r"unknown option\(s\) \['iterations'\]; accepted: \['noise_std', 'sigma', 'value'\]"
    with pytest.raises(ValueError, match=unknown):
        check_reference_options("blur", {"iterations": 10})


def test_noise_reference_with_seed_none_is_drawn_fresh(image, feats):
    a = make_reference("noise", image, feats, seed=None)
    b = make_reference("noise", image, feats, seed=None)
    assert a.shape == image.shape and torch.isfinite(a).all() and not torch.equal(a, b)


# ------------------------------------------------------------ the authors' references (paper_blur, paper_patch_mean)
def _torchvision_blur(x: np.ndarray, kernel: int, sigma: float) -> np.ndarray:
    """torchvision's GaussianBlur, written independently with scipy: kernel sampled on ``kernel`` points,
    renormalised, reflect padding (scipy's 'mirror'), over the last two dims."""
    from scipy.ndimage import convolve1d

    w = np.exp(-0.5 * (np.linspace(-(kernel - 1) / 2, (kernel - 1) / 2, kernel) / sigma) ** 2)
    w /= w.sum()
    return convolve1d(convolve1d(x, w, axis=-1, mode="mirror"), w, axis=-2, mode="mirror")


def test_paper_blur_parameters_scale_31_56_at_224():
    from trace_opt.models.references import paper_blur_parameters

    assert paper_blur_parameters(224) == (31, 56.0)
    assert paper_blur_parameters(112) == (15, 28.0)
    assert paper_blur_parameters(28) == (3, 7.0)  # 31 * 28 / 224 = 3.9 -> 3
    assert paper_blur_parameters(8) == (3, 2.0)  # 1.1 -> at least 3 (1 would not blur)
    assert paper_blur_parameters(32) == (5, 8.0)  # 4.4 -> 5


def test_paper_blur_is_the_authors_gaussian_blur_at_224_px():
    x = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = make_reference("paper_blur", x, grid_features((224, 224), 7)).numpy()
    np.testing.assert_allclose(ref, _torchvision_blur(x.numpy(), 31, 56.0), rtol=1e-10, atol=1e-12)
    # scaled on a 28 x 28 digit: kernel 3, sigma 7; a constant image stays constant
    d = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ref28 = make_reference("paper_blur", d, grid_features((28, 28), 7)).numpy()
    np.testing.assert_allclose(ref28, _torchvision_blur(d.numpy(), 3, 7.0), rtol=1e-10, atol=1e-12)
    c = torch.full((3, 8, 8), 0.3, dtype=torch.float64)
    np.testing.assert_allclose(make_reference("paper_blur", c, grid_features((8, 8), 4)).numpy(), 0.3, rtol=1e-12)
    with pytest.raises(ValueError, match="sigma"):
        make_reference("paper_blur", x, grid_features((224, 224), 7), sigma=2.0)  # no options: fixed scaling


def test_paper_patch_mean_is_one_value_over_channels(image, feats):
    x = image.numpy()
    ref = make_reference("paper_patch_mean", image, feats).numpy()
    for i in range(feats.t):
        sel = feats.ids == i
        np.testing.assert_allclose(ref[:, sel], x[:, sel].mean(), rtol=1e-12)  # all channels, one value
    assert not np.allclose(ref, make_reference("patch_mean", image, feats).numpy())
    # one channel, a feature map over every element, a tabular row: the same as patch_mean
    one = image[:1]
    assert torch.allclose(make_reference("paper_patch_mean", one, feats), make_reference("patch_mean", one, feats))
    row = torch.arange(6, dtype=torch.float64)
    tab = tabular_features(6, groups=[[0, 5], [1, 2, 3], [4]])
    np.testing.assert_allclose(make_reference("paper_patch_mean", row, tab).numpy(), [2.5, 2, 2, 2, 4, 2.5])


def _authors_deletion(x: torch.Tensor, order, feats, kind: str) -> torch.Tensor:
    """The authors' traj_masking: delete features one by one, each time recomputing the reference from the
    image as deleted so far (their blur: of the whole partly deleted image; their patch mean: of the patch)."""
    masked = x.clone()
    for i in order:
        sel = torch.as_tensor(feats.ids == i)
        if kind == "paper_blur":
            value = make_reference("paper_blur", masked, feats)
            masked[:, sel] = value[:, sel]
        else:
            masked[:, sel] = masked[:, sel].mean()
    return masked


def test_authors_recomputation_differs_for_blur_not_for_patch_mean():
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    feats = grid_features((16, 16), 4)
    S = [5, 6]  # neighbouring patches: the blur of one reaches into the other
    for kind in ("paper_blur", "paper_patch_mean"):
        ref = make_reference(kind, x, feats)
        sel = torch.as_tensor(np.isin(feats.ids, S))
        ours = x.clone()
        ours[:, sel] = ref[:, sel]  # our D: the reference from x, whatever the order
        a, b = _authors_deletion(x, S, feats, kind), _authors_deletion(x, S[::-1], feats, kind)
        if kind == "paper_patch_mean":
            assert torch.allclose(a, ours) and torch.allclose(b, ours)  # a patch's mean reads only its own pixels
        else:
            assert not torch.allclose(a, b)  # theirs depends on the deletion order: not a set function
            assert not torch.allclose(a, ours)


def test_every_reference_kind_has_one_builder():
    from trace_opt.models import references

    assert sorted(references._BUILDERS) == sorted(references.REFERENCE_KINDS)
