"""The paper's IBA, Extremal Perturbation, Excitation Backprop and pixel-level RISE, each against what its
paper promises on a case where the answer is known."""

import itertools

import numpy as np
import pytest
import torch

from trace_opt import grid_features, tabular_features
from trace_opt.baselines import BASELINES, applicable_baselines, attribute, available_baselines, make_input
from trace_opt.baselines.paper import (
    RANKING_RULES,
    excitation_backprop,
    iba_capacity,
    rise_pixel_masks,
    rise_pixel_saliency,
)
from trace_opt.models.architectures import DigitsCNN8

SIDE, GRID = 8, 4  # 8 x 8 image, 4 x 4 grid of 2 x 2 patches
REGION = [0, 1, 4, 5]  # the top-left 4 x 4 pixels = patches 0, 1, 4, 5
NEW = ("iba", "extremal-perturbation", "excitation-backprop", "rise-pixel")


def region_model():
    """A ReLU CNN whose class-0 logit reads only the top-left 4 x 4 pixels; class 1 is a constant 29, so
    class 0 wins on ``region_input()`` (logit 31.1) but loses clearly when the region is replaced by noise
    around its mean (IBA's information term can only be outweighed by a task loss that needs the region)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight[:] = torch.tensor([1.0, 0.5]).view(2, 1, 1, 1)
        conv.bias.zero_()
    lin = torch.nn.Linear(2 * SIDE * SIDE, 2)
    inside = torch.zeros(2, SIDE, SIDE)
    inside[:, :4, :4] = 1.0
    with torch.no_grad():
        w = (torch.rand(2, SIDE, SIDE) * 0.5 + 0.5) * inside
        lin.weight[0] = w.reshape(-1) * 3.0
        lin.weight[1] = 0.0
        lin.bias[:] = torch.tensor([0.0, 29.0])
    return torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.Flatten(), lin).eval()


def region_input():
    return torch.rand(1, SIDE, SIDE, generator=torch.Generator().manual_seed(3)) * 0.8 + 0.2


def test_the_three_paper_methods_and_pixel_rise_are_registered_with_their_ranking_rule():
    names = available_baselines()
    for n in NEW:
        assert n in names and n in RANKING_RULES
    assert (
        BASELINES["iba"].aggregate,
        BASELINES["extremal-perturbation"].aggregate,
        BASELINES["excitation-backprop"].aggregate,
        BASELINES["rise-pixel"].aggregate,
    ) == ("sum", "mean", "sum", "mean")
    # black boxes get pixel RISE only; EBP refuses layers it has no rule for
    bb = applicable_baselines(lambda b: np.asarray(b).reshape(len(b), -1).sum(1, keepdims=True))
    assert "rise-pixel" in bb and not {"iba", "extremal-perturbation", "excitation-backprop"} & set(bb)
    tanh = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).eval()
    assert "excitation-backprop" not in applicable_baselines(tanh) and "iba" in applicable_baselines(tanh)


@pytest.mark.parametrize("method", ["iba", "extremal-perturbation", "excitation-backprop"])
def test_a_model_that_reads_one_region_puts_its_patches_last(method):
    model, x = region_model(), region_input()
    feats = grid_features((SIDE, SIDE), GRID)
    att = attribute(method, model, x, 0, feats, "zeros", seed=0)
    assert sorted(att.trajectory[-4:].tolist()) == REGION  # most important last
    share = att.scores[REGION].sum() / att.scores.sum()
    assert share > {"iba": 0.8, "extremal-perturbation": 0.5, "excitation-backprop": 0.999999}[method]


def test_iba_capacity_is_near_zero_where_the_model_does_not_look():
    model, x = region_model(), region_input()
    inp = make_input(model, x, 0, grid_features((SIDE, SIDE), GRID), "zeros")
    cap = iba_capacity(inp, sigma=0.0).sum(dim=0)  # the ReLU's (2, 8, 8) output, no smoothing
    inside = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    inside[:4, :4] = True
    assert cap[inside].min() > 20 * cap[~inside].max()
    assert cap[~inside].max() < 1e-2  # bits


def test_extremal_masks_of_small_area_keep_only_the_region():
    from trace_opt.baselines.paper import extremal_masks

    model, x = region_model(), region_input()
    inp = make_input(model, x, 0, grid_features((SIDE, SIDE), GRID), "zeros")
    masks = extremal_masks(inp, areas=(0.25,), max_iter=300, step=1, smooth=0.0)
    m = masks[0]
    assert m[:4, :4].mean() > 0.8 and m[4:, :].mean() < 0.1 and m[:, 4:].mean() < 0.1


def test_excitation_backprop_conserves_probability_layer_by_layer_on_a_relu_mlp():
    torch.manual_seed(1)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(6, 12), torch.nn.ReLU(), torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ).eval()
    for layer in mlp:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.zeros_(layer.bias)
    x = torch.rand(6) + 0.1
    target = int(mlp(x[None]).argmax())
    mwp, layers = excitation_backprop(mlp, x, target, return_layers=True)
    assert len(layers) == len(mlp) + 1
    for p in layers:  # a probability distribution at every layer
        assert float(p.sum()) == pytest.approx(1.0, abs=1e-6)
        assert float(p.min()) >= 0
    # signed inputs (standardised columns) enter as x+ / x- units: still conserved
    mwp_signed, layers = excitation_backprop(mlp, x - 0.6, target, return_layers=True)
    assert [float(p.sum()) for p in layers] == pytest.approx([1.0] * len(layers), abs=1e-6)
    # contrastive: target minus dual, both distributions, so it sums to zero
    c = excitation_backprop(mlp, x, target, contrastive=True)
    assert float(c.sum()) == pytest.approx(0.0, abs=1e-6)


def test_excitation_backprop_single_layer_is_the_paper_formula_and_conserves_through_conv_and_pooling():
    lin = torch.nn.Sequential(torch.nn.Linear(5, 2)).eval()
    x = torch.rand(5) + 0.1
    w = lin[0].weight[1].detach().clamp(min=0)
    expected = x * w / (x * w).sum()
    torch.testing.assert_close(excitation_backprop(lin, x, 1), expected)
    torch.manual_seed(2)
    cnn = DigitsCNN8().eval()  # conv, ReLU, conv, ReLU, max-pool, flatten, linear, ReLU, linear
    for m in cnn.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            torch.nn.init.zeros_(m.bias)
    x = torch.rand(1, 8, 8)
    _, layers = excitation_backprop(cnn, x, 3, return_layers=True)
    assert [float(p.sum()) for p in layers] == pytest.approx([1.0] * len(layers), abs=1e-5)


def test_excitation_backprop_refuses_a_skip_connection():
    class Skip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.r, self.b = torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.b(self.r(self.a(x)) + x)

    with pytest.raises(ValueError, match="chain"):
        attribute("excitation-backprop", Skip().eval(), torch.rand(4), 0, tabular_features(4))


def _bilinear_weights(n_in, n_out):
    """(n_out, n_in) weights of 1-D linear interpolation with half-pixel centres, edge values held
    (torch's align_corners=False; skimage's order=1, mode='reflect', as in Petsiuk et al.'s code)."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    w = np.zeros((n_out, n_in))
    w[np.arange(n_out), lo] += 1 - frac
    w[np.arange(n_out), hi] += frac
    return w


def test_pixel_rise_equals_the_analytic_expectation_on_a_linear_model():
    h = w = 8
    s, p, n = 3, 0.5, 3000
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(h * w, 2)).eval()
    x = torch.rand(1, h, w)
    target = 1
    inp = make_input(model, x, target, grid_features((h, w), GRID), "zeros", seed=5, batch_size=512)
    sal = rise_pixel_saliency(inp, n_masks=n, s=s, p_keep=p).numpy()
    # analytic: M = A_shift B with B iid Bernoulli(p) cells; E[f(x_M) M_u] / p, f(x_M) = b + sum_v c_v M_v
    c = (model[1].weight[target].detach().double() * x[0].double().reshape(-1)).numpy()
    b = float(model[1].bias[target].detach())
    cell = -(-h // s)
    up = _bilinear_weights(s, (s + 1) * cell)
    expected = np.zeros(h * w)
    for dy, dx in itertools.product(range(cell), range(cell)):
        a = np.kron(up[dy : dy + h], up[dx : dx + w])  # (h*w, s*s): pixel u's weight on each cell
        em = p * a.sum(axis=1)  # E[M_u]
        emm = p * p * np.outer(a.sum(1), a.sum(1)) + (p - p * p) * a @ a.T  # E[M_u M_v]
        expected += (b * em + emm @ c) / p
    expected /= cell * cell
    # sampling error of the estimator from the same masks
    masks = rise_pixel_masks((h, w), n, s, p, seed=5).numpy().reshape(n, -1)
    vals = b + masks @ c
    se = (vals[:, None] * masks / p).std(axis=0, ddof=1) / np.sqrt(n)
    z = np.abs(sal.reshape(-1) - expected) / se
    assert z.max() < 5, z.max()
    assert np.abs(sal.reshape(-1) - expected).max() < 0.05 * np.abs(expected).max()


def test_pixel_rise_masks_are_smooth_shifted_and_keep_about_p():
    m = rise_pixel_masks((14, 14), 400, s=7, p_keep=0.3, seed=0)
    assert m.shape == (400, 14, 14) and float(m.min()) >= 0 and float(m.max()) <= 1
    assert float(m.mean()) == pytest.approx(0.3, abs=0.03)
    assert len({tuple(v) for v in m[:, 0, :3].numpy().round(6)}) > 50  # not a fixed grid
    flat = rise_pixel_masks((5,), 100, p_keep=0.5, seed=1)  # 1-D rows: per-element Bernoulli
    assert set(np.unique(flat.numpy())) <= {0.0, 1.0}


@pytest.mark.parametrize("method", NEW)
def test_paper_methods_are_seeded_leave_the_rng_alone_and_run_on_an_mlp(method):
    torch.manual_seed(6)
    mlp = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    x = torch.randn(5)
    state = torch.random.get_rng_state()
    opts = {"max_iter": 30} if method == "extremal-perturbation" else {}
    a = attribute(method, mlp, x, 1, tabular_features(5), "zeros", seed=3, **opts)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = attribute(method, mlp, x, 1, tabular_features(5), "zeros", seed=3, **opts)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert sorted(a.trajectory.tolist()) == list(range(5))
    assert np.array_equal(
        attribute(method, mlp, x, 1, tabular_features(5), "zeros", seed=3, absolute=True, **opts).scores,
        np.abs(a.scores),
    ) or method in ("iba", "extremal-perturbation")
