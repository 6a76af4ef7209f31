"""Captum's and Quantus' interfaces (trace_opt.explanation.integrations) against explain and known orders."""

import numpy as np
import pytest
import torch

import trace_opt
from trace_opt.explanation.integrations import TraceAttribution, quantus_explain_func

RNG = np.random.default_rng(0)
W = RNG.normal(size=(3, 4, 4))  # an additive 3-class model on 1 x 4 x 4 inputs


def linear_model(batch):
    """A float64 numpy black box: (B, 1, 4, 4) -> (B, 3) logits, additive in the pixels."""
    b = np.asarray(batch, dtype=np.float64).reshape(len(batch), 16)
    return b @ W.reshape(3, 16).T


X = torch.as_tensor(RNG.normal(size=(3, 1, 4, 4)))
SETTINGS = dict(solver="greedy", features=2, objective="le-mo", progress=False)


def test_attribute_has_input_shape_and_equals_explain_per_input():
    attr = TraceAttribution(linear_model, **SETTINGS).attribute(X, target=[0, 1, 2])
    assert attr.shape == X.shape and attr.dtype == torch.float32
    for i, target in enumerate([0, 1, 2]):
        ex = trace_opt.explain(linear_model, X[i], target, **SETTINGS)
        heat = ((np.argsort(ex.trajectory) + 1) / 4.0)[ex.features.ids]
        np.testing.assert_allclose(attr[i].numpy(), np.broadcast_to(heat, (1, 4, 4)), rtol=1e-6)


def test_additive_model_ranks_patches_by_their_contribution():
    """Zeros reference, additive logit: the best Le-Mo order deletes patches by increasing contribution."""
    x = X[:1]
    attr = TraceAttribution(linear_model, **SETTINGS).attribute(x, target=1)[0, 0].numpy()
    contrib = (W[1] * x[0, 0].numpy()).reshape(2, 2, 2, 2).sum(axis=(1, 3))  # per 2 x 2 patch
    patch_attr = attr[::2, ::2]
    assert np.array_equal(np.argsort(patch_attr.ravel()), np.argsort(contrib.ravel()))


def test_feature_mask_ids_and_batch_forms_agree():
    grid = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 2, axis=0), 2, axis=1)  # the 2 x 2 grid's map
    explainer = TraceAttribution(linear_model, solver="greedy", progress=False)
    plain = explainer.attribute(X, target=0, feature_mask=torch.as_tensor(grid))
    sparse_ids = explainer.attribute(X, target=0, feature_mask=torch.as_tensor(10 * grid + 7)[None, None])
    per_input = explainer.attribute(X, target=0, feature_mask=torch.as_tensor(np.stack([grid[None]] * 3)))
    grid_setting = explainer.attribute(X, target=0, features=2)
    for other in (sparse_ids, per_input, grid_setting):
        assert torch.equal(plain, other)


def test_baselines_number_and_tensor_are_the_reference():
    explainer = TraceAttribution(linear_model, **SETTINGS)
    by_number = explainer.explanations(X, target=0, baselines=0.5)
    by_tensor = explainer.explanations(X, target=0, baselines=torch.full((1, 1, 4, 4), 0.5))
    for a, b in zip(by_number, by_tensor):
        assert np.array_equal(a.trajectory, b.trajectory) and a.score == pytest.approx(b.score, rel=1e-12)
    per_input = torch.stack([torch.full((1, 4, 4), v) for v in (0.0, 0.5, 0.0)])
    mixed = explainer.explanations(X, target=0, baselines=per_input)
    assert mixed[1].score == pytest.approx(by_number[1].score, rel=1e-12)
    zeros = explainer.explanations(X, target=0)
    assert mixed[0].score == pytest.approx(zeros[0].score, rel=1e-12)


def test_perturbations_per_eval_is_the_batch_size():
    exs = TraceAttribution(linear_model, **SETTINGS).explanations(X[:1], target=0, perturbations_per_eval=3)
    counters = exs[0].counters
    assert counters["forward_passes"] > 3
    assert counters["batches"] >= counters["forward_passes"] / 3


def test_a_captum_style_loop():
    explainer = TraceAttribution(linear_model, **SETTINGS)
    loader = [(X[:2], torch.tensor([0, 2])), (X[2:], torch.tensor([1]))]
    maps = torch.cat([explainer.attribute(xb, target=yb) for xb, yb in loader])
    assert torch.equal(maps, explainer.attribute(X, target=torch.tensor([0, 2, 1])))


def test_bad_arguments_are_named():
    explainer = TraceAttribution(linear_model, **SETTINGS)
    with pytest.raises(ValueError, match="target has 2 entries for 3 inputs"):
        explainer.attribute(X, target=[0, 1])
    with pytest.raises(ValueError, match="tuple of 2 tensors"):
        explainer.attribute((X, X), target=0)
    with pytest.raises(ValueError, match="feature_mask of shape"):
        explainer.attribute(X, target=0, feature_mask=np.zeros((5, 5), dtype=int))
    with pytest.raises(ValueError, match="solver"):
        TraceAttribution(linear_model, solver="nope")


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.head = torch.nn.Linear(64, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))


def test_quantus_explain_func_in_a_quantus_metric():
    quantus = pytest.importorskip("quantus")
    model = TinyNet().eval()
    x = X.numpy().astype(np.float32)
    y = model(torch.as_tensor(x)).argmax(1).numpy()
    kwargs = dict(SETTINGS)
    direct = quantus_explain_func(model=model, inputs=x, targets=y, **kwargs)
    assert direct.shape == x.shape and direct.dtype == np.float32
    assert np.array_equal(direct, TraceAttribution(model, **kwargs).attribute(torch.as_tensor(x), y).numpy())
    metric = quantus.MonotonicityCorrelation(
        nr_samples=3, features_in_step=4, perturb_baseline="black", disable_warnings=True, display_progressbar=False
    )
    np.random.seed(0)
    scores = metric(
        model=model,
        x_batch=x,
        y_batch=y,
        a_batch=None,
        explain_func=quantus_explain_func,
        explain_func_kwargs=kwargs,
        device="cpu",
    )
    assert len(scores) == 3 and np.all(np.isfinite(scores))
