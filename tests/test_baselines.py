"""Attribution baselines as trajectories: analytic ground truth, rankings, black boxes, seeds, registry."""

import numpy as np
import pytest
import torch

from brute import brute_force
from trace_opt import TraceProblem, grid_features, tabular_features
from trace_opt.baselines import (
    BASELINES,
    FeatureScores,
    applicable_baselines,
    attribute,
    available_baselines,
    baseline_trajectory,
    make_input,
    register_baseline,
    rise_scores,
)
from trace_opt.explanation.rankings import scores_to_trajectory
from trace_opt.models.oracles import ModelOracle


class Poly(torch.nn.Module):
    """f(x) = x1^2 * x2 as a (B, 1) output."""

    def forward(self, x):
        return (x[:, 0] ** 2 * x[:, 1])[:, None]


class Additive(torch.nn.Module):
    """f(x) = sum_i w_i x_i^2 + v_i x_i (one output): each feature contributes on its own."""

    def __init__(self, w, v):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float32), requires_grad=False)
        self.v = torch.nn.Parameter(torch.as_tensor(v, dtype=torch.float32), requires_grad=False)

    def forward(self, x):
        return (self.w * x**2 + self.v * x).sum(dim=1, keepdim=True)


def linear_image_model(seed, n_classes=3, side=6):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, n_classes)).eval()


def test_integrated_gradients_splits_x1_squared_x2_two_thirds_one_third():
    x = torch.tensor([1.5, -2.0])
    f = float(x[0] ** 2 * x[1])
    att = attribute("integrated-gradients", Poly().eval(), x, 0, tabular_features(2), "zeros")
    # IG_1 = x1 * int_0^1 2 a^2 x1 x2 da = 2/3 f ; IG_2 = 1/3 f (completeness: sum = f - f(0) = f)
    np.testing.assert_allclose(att.scores, [2 * f / 3, f / 3], rtol=1e-5)
    assert att.scores.sum() == pytest.approx(f, rel=1e-5)
    # f < 0 here, so feature 0 has the more negative attribution: least important first
    assert att.trajectory.tolist() == [0, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_model_input_x_gradient_ig_and_occlusion_give_the_same_ranking(seed):
    model = linear_image_model(seed)
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(1, 6, 6, generator=g) * 2 - 1
    feats = grid_features((6, 6), 3)
    target = 1
    # analytic: the contribution of patch j is sum over its pixels of w_i x_i (zero baseline)
    w = model[1].weight[target].detach().numpy().reshape(6, 6)
    contrib = np.bincount(feats.ids.ravel(), weights=(w * x[0].numpy()).ravel(), minlength=feats.t)
    expected = scores_to_trajectory(contrib)
    trajs = {
        m: baseline_trajectory(m, model, x, target, feats, "zeros")
        for m in ("input-x-gradient", "integrated-gradients", "occlusion", "feature-ablation", "deeplift")
    }
    for m, tr in trajs.items():
        assert tr.tolist() == expected.tolist(), m


def test_additive_model_rankings_match_its_known_optimal_trajectory():
    rng = np.random.default_rng(3)
    t = 6
    w, v = rng.normal(size=t), rng.normal(size=t)
    model = Additive(w, v).eval()
    x = torch.as_tensor(rng.normal(size=t), dtype=torch.float32)
    feats = tabular_features(t)
    # contribution of feature i against the zero reference: a_i = w_i x_i^2 + v_i x_i, and
    # D(S) = f(x) - sum_{i in S} a_i, so every objective is optimised by ascending a (least first)
    a = w * x.numpy().astype(np.float64) ** 2 + v * x.numpy()
    optimal = scores_to_trajectory(a)
    oracle = ModelOracle(model, x, 0, features=feats, reference="zeros")
    for objective in ("le", "mo", "le-mo"):
        assert brute_force(TraceProblem(oracle, objective)).argmax.tolist() == optimal.tolist(), objective
    for m in ("integrated-gradients", "occlusion", "feature-ablation", "shapley-sampling", "kernel-shap"):
        assert baseline_trajectory(m, model, x, 0, feats, "zeros").tolist() == optimal.tolist(), m
    # Shapley values of an additive game are exactly the contributions
    np.testing.assert_allclose(attribute("shapley-sampling", model, x, 0, feats).scores, a, rtol=1e-4, atol=1e-5)


def test_rise_is_an_unbiased_estimate_on_an_additive_model():
    # E[f(x_M) M_i] / p = f(ref) + a_i + p * sum_{j != i} a_j, i.e. const + (1 - p) a_i
    a = np.array([0.1, 2.0, -1.0, 0.9])
    model = Additive(np.zeros(4), a).eval()
    x = torch.ones(4)
    inp = make_input(model, x, 0, tabular_features(4), "zeros", seed=5)
    s = rise_scores(inp, n_masks=20000, p_keep=0.5)
    expected = a + 0.5 * (a.sum() - a)
    np.testing.assert_allclose(s, expected, atol=0.06)
    assert (
        attribute("rise", model, x, 0, tabular_features(4), seed=5).trajectory.tolist()
        == scores_to_trajectory(a).tolist()
    )


def test_saliency_is_the_absolute_gradient_per_feature():
    model = linear_image_model(0)
    feats = grid_features((6, 6), 2)
    att = attribute("saliency", model, torch.rand(1, 6, 6), 2, feats)
    w = np.abs(model[1].weight[2].detach().numpy()).reshape(6, 6)
    np.testing.assert_allclose(att.scores, np.bincount(feats.ids.ravel(), weights=w.ravel()), rtol=1e-5)
    assert att.absolute is True


def test_black_box_gets_perturbation_methods_only_with_clear_errors():
    model = linear_image_model(1)
    feats = grid_features((6, 6), 3)
    x = torch.rand(1, 6, 6)

    def fn(batch):
        with torch.no_grad():
            return model(torch.as_tensor(batch, dtype=torch.float32)).numpy()

    names = applicable_baselines(fn)
    assert "saliency" not in names and "grad-cam" not in names and "feature-ablation" in names
    for m in ("saliency", "integrated-gradients", "grad-cam"):
        with pytest.raises(ValueError, match="gradients"):
            attribute(m, fn, x.numpy(), 0, feats)
    # the black box and the module agree on a perturbation method
    assert (
        baseline_trajectory("feature-ablation", fn, x.numpy(), 0, feats).tolist()
        == baseline_trajectory("feature-ablation", model, x, 0, feats).tolist()
    )


def test_grad_cam_needs_a_conv_layer_and_works_on_a_cnn():
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 2)).eval()
    with pytest.raises(ValueError, match="convolutional"):
        attribute("grad-cam", mlp, torch.rand(4), 0, tabular_features(4))
    assert "grad-cam" not in applicable_baselines(mlp)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 36, 3)
    ).eval()
    att = attribute("grad-cam", cnn, torch.rand(1, 6, 6), 0, grid_features((6, 6), 3), layer="0")
    assert sorted(att.trajectory.tolist()) == list(range(9))
    with pytest.raises(ValueError, match="layer"):
        attribute("grad-cam", cnn, torch.rand(1, 6, 6), 0, grid_features((6, 6), 3), layer="nope")


@pytest.mark.parametrize("method", ["random", "shapley-sampling", "kernel-shap", "lime", "rise", "smoothgrad"])
def test_sampling_methods_are_seeded_and_leave_the_global_rng_alone(method):
    model = linear_image_model(2)
    feats = grid_features((6, 6), 3)
    x = torch.rand(1, 6, 6)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = attribute(method, model, x, 0, feats, seed=7).scores
    assert torch.equal(torch.random.get_rng_state(), state)
    b = attribute(method, model, x, 0, feats, seed=7).scores
    np.testing.assert_array_equal(a, b)
    if method in ("random", "rise"):
        c = attribute(method, model, x, 0, feats, seed=8).scores
        assert not np.array_equal(a, c)


def test_register_a_user_method_and_validation():
    name = "test-user-method"
    BASELINES.pop(name, None)

    @register_baseline(name, aggregate="mean")
    def by_index(inp, **_):
        return FeatureScores(-np.arange(inp.features.t, dtype=float))

    try:
        assert name in available_baselines()
        tr = baseline_trajectory(name, linear_image_model(0), torch.rand(1, 6, 6), 0, grid_features((6, 6), 2))
        assert tr.tolist() == [3, 2, 1, 0]
        with pytest.raises(ValueError, match="already registered"):
            register_baseline(name, by_index)
        register_baseline(name, lambda inp, **_: FeatureScores(np.zeros(2)), overwrite=True)
        with pytest.raises(ValueError, match="FeatureScores"):
            baseline_trajectory(name, linear_image_model(0), torch.rand(1, 6, 6), 0, grid_features((6, 6), 2))
    finally:
        BASELINES.pop(name, None)
    with pytest.raises(ValueError, match="method="):
        attribute("no-such-method", linear_image_model(0), torch.rand(1, 6, 6), 0, 2)
    with pytest.raises(ValueError, match="target"):
        attribute("saliency", linear_image_model(0), torch.rand(1, 6, 6), 7, 2)
    with pytest.raises(ValueError, match="aggregate"):
        attribute("saliency", linear_image_model(0), torch.rand(1, 6, 6), 0, 2, aggregate="max")


def test_baselines_are_selected_by_tags():
    """Tags replace fixed name lists: a clause is tags joined by '&' ('!' negates), clauses are a union, controls go
    last (or first); an unknown tag is refused, at registration and in a query."""
    from trace_opt.baselines import TAGS, baselines_tagged, get_baseline

    assert baselines_tagged("core") == ["saliency", "integrated-gradients", "occlusion", "random"]
    assert baselines_tagged("core", controls="first")[0] == "random"
    for name in baselines_tagged("core"):
        assert "standard" in get_baseline(name).tags  # the tiers nest
    assert "gradients" in get_baseline("saliency").tags  # added by needs_gradients
    assert not set(baselines_tagged("!paper")) & set(baselines_tagged("paper"))
    assert baselines_tagged("perturbation&!sampling") == ["occlusion", "feature-ablation", "extremal-perturbation"]
    for name in available_baselines():
        assert get_baseline(name).tags <= set(TAGS)
    with pytest.raises(ValueError, match="unknown"):
        baselines_tagged("no-such-tag")
    with pytest.raises(ValueError, match="unknown"):
        register_baseline("tagged-wrong", lambda inp: None, tags=("no-such-tag",))
    assert "tagged-wrong" not in available_baselines()
    # black boxes: methods that need gradients or a conv layer do not apply
    assert baselines_tagged("core", model=lambda x: x.sum(axis=tuple(range(1, x.ndim)))) == ["occlusion", "random"]
