"""How a torch model's passes run (issue 28, point 3): channels_last for images of several channels, the
ONNX Runtime backend (exported once, checked against torch, refused where it cannot run), and progress bars
that move with forward passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import trace_opt
from solvers import get_solver
from trace_opt import ModelOracle, TraceProblem
from trace_opt.models.backends import OnnxRuntimeModule, with_backend


def small_cnn(channels=3, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(channels, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 5),
    ).eval()


class FlattenByView(torch.nn.Module):
    """A model that calls ``x.view(B, -1)``, which a channels_last tensor refuses."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        return self.fc(x.view(x.shape[0], -1))


def test_images_of_several_channels_go_to_the_model_as_channels_last():
    seen = []
    model = small_cnn()

    def spy(batch):
        seen.append(batch.is_contiguous(memory_format=torch.channels_last))
        return model(batch)

    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    oracle = ModelOracle(spy, x, 1, features=2, batch_size=4)
    plain = ModelOracle(model, x, 1, features=2, batch_size=4)
    plain._channels_last = False
    masks = np.random.default_rng(0).random((10, 4)) < 0.5
    np.testing.assert_allclose(oracle.evaluate(masks), plain.evaluate(masks), rtol=1e-5, atol=1e-6)
    assert all(seen)


def test_a_model_that_refuses_channels_last_gets_the_standard_layout():
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    oracle = ModelOracle(FlattenByView().eval(), x, 0, features=2, batch_size=4)
    assert not oracle._channels_last
    assert np.isfinite(oracle.evaluate(np.ones((2, 4), dtype=bool))).all()


onnx = pytest.importorskip("onnxruntime")


def test_onnxruntime_backend_agrees_with_torch_and_counts_the_same_passes():
    model = small_cnn()
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(2))
    runs = {
        b: trace_opt.explain(model, x, features=2, solver="greedy", backend=b, batch_size=4)
        for b in ("torch", "onnxruntime")
    }
    a, b = runs["torch"], runs["onnxruntime"]
    assert a.counters["forward_passes"] == b.counters["forward_passes"]
    assert a.value == pytest.approx(b.value, rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(a.curves.lerf_deletion, b.curves.lerf_deletion, rtol=1e-4, atol=1e-5)


def test_onnxruntime_module_is_exported_once_and_again_after_the_weights_change():
    model = small_cnn()
    x = torch.rand(3, 8, 8)
    first = with_backend(model, "onnxruntime", x)
    assert isinstance(first, OnnxRuntimeModule) and first.max_difference < 1e-4
    assert with_backend(model, "onnxruntime", x) is first  # cached
    assert with_backend(first, "onnxruntime", x) is first  # already a backend module
    with torch.no_grad():
        model[0].weight.mul_(2.0)  # in place: the export is stale
    second = with_backend(model, "onnxruntime", x)
    assert second is not first
    with torch.inference_mode():
        np.testing.assert_allclose(second(x[None]).numpy(), model(x[None]).numpy(), rtol=1e-4, atol=1e-5)


def test_onnxruntime_backend_refusals():
    model = small_cnn()
    x = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match="backend"):
        trace_opt.explain(model, x, backend="tensorrt")
    with pytest.raises(ValueError, match="precision='bf16' is not valid with backend='onnxruntime'"):
        trace_opt.ExplainSettings(backend="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="device='cuda' is not valid with backend='onnxruntime'"):
        trace_opt.ExplainSettings(backend="onnxruntime", device="cuda")
    with pytest.raises(ValueError, match="runs torch modules"):
        with_backend(lambda b: b.sum(axis=(1, 2, 3)), "onnxruntime", x)


def test_explain_command_takes_backend(tmp_path, capsys):
    from trace_opt.cli import main

    with pytest.raises(SystemExit):
        main(["explain", "--backend", "nope", "--out", str(tmp_path / "x")])
    assert "--backend" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ils", "surrogate", "greedy", "sa"])
def test_progress_bar_counts_forward_passes_against_the_budget(name, monkeypatch):
    import solvers.base as B

    bars = []

    class Recorded(B.tqdm):
        def close(self):
            if not any(bar is self for bar in bars):
                bars.append(self)
                self.seen = (self.n, self.total, self.unit)
            super().close()

    monkeypatch.setattr(B, "tqdm", Recorded)
    rng = np.random.default_rng(0)
    w = rng.normal(size=12)
    oracle = trace_opt.SetFunctionOracle(lambda m: (~m).astype(float) @ w + 0.3 * np.sin((~m).astype(float) @ w), 12)
    problem = TraceProblem(oracle, "le-mo")
    res = get_solver(name).solve(problem, budget=300, seed=0, progress=True, curves=False)
    ((n, total, unit),) = [bar.seen for bar in bars]
    assert (total, unit) == (300, "pass")
    assert n == res.forward_passes > 0  # the bar moved with every pass the search made
    assert oracle.on_passes is None  # detached when the solve ends
