"""Any model output: tuples, mappings, .logits objects and score functions give the bare tensor's trajectory."""

from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import trace_opt
from exact_models import ExactNet
from trace_opt.models.outputs import model_scores

SETTINGS = dict(features=2, solver="greedy", progress=False)


class Wrapped(torch.nn.Module):
    """ExactNet whose output comes wrapped in another form."""

    def __init__(self, form):
        super().__init__()
        self.net = ExactNet(n_inputs=16, n_classes=3).eval()
        self.form = form

    def forward(self, x):
        z = self.net(x)
        if self.form == "tuple":
            return (z, z.detach() * 0)
        if self.form == "list":
            return [z]
        if self.form == "dict":
            return {"hidden": z * 0, "logits": z}
        if self.form == "ordered-first":
            return OrderedDict(scores=z)
        if self.form == "object":
            return SimpleNamespace(logits=z, loss=None)
        return z


X = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("form", ["tuple", "list", "dict", "ordered-first", "object"])
def test_every_output_form_gives_the_bare_tensors_trajectory(form):
    bare, wrapped = Wrapped("tensor"), Wrapped(form)
    wrapped.net.load_state_dict(bare.net.state_dict())
    a = trace_opt.explain(bare, X[0], 1, **SETTINGS)
    b = trace_opt.explain(wrapped, X[0], 1, **SETTINGS)
    assert np.array_equal(a.trajectory, b.trajectory) and a.score == b.score
    assert a.counters["forward_passes"] == b.counters["forward_passes"]
    many = trace_opt.explain_many(wrapped, X, [1, 2], **SETTINGS)  # lockstep shares the model calls
    assert np.array_equal(many[0].trajectory, a.trajectory) and many[0].score == a.score


def test_a_score_function_of_the_raw_output():
    """output=<callable>: D is fn(raw output); explaining 'the difference of two logits' equals explaining a
    model that returns that difference as its only column."""
    net = Wrapped("dict")

    def margin(out):
        return out["logits"][:, 1] - out["logits"][:, 2]

    class Margin(torch.nn.Module):
        def forward(self, x):
            z = net.net(x)
            return (z[:, 1] - z[:, 2])[:, None]

    ref = trace_opt.explain(Margin(), X[0], 0, **SETTINGS)
    got = trace_opt.explain(net, X[0], output=margin, **SETTINGS)
    assert np.array_equal(got.trajectory, ref.trajectory) and got.score == pytest.approx(ref.score, rel=1e-12)
    assert got.output == "test_a_score_function_of_the_raw_output.<locals>.margin" and got.target == 0
    many = trace_opt.explain_many(net, X, output=margin, **SETTINGS)
    assert np.array_equal(many[0].trajectory, ref.trajectory) and many[0].output == got.output
    # a black-box callable takes a score function too
    box = lambda b: np.stack([np.asarray(b).reshape(len(b), -1).sum(1), np.zeros(len(b))], axis=1)  # noqa: E731
    first = trace_opt.explain(box, X[0].numpy(), output=lambda out: out[:, 0], **SETTINGS)
    plain = trace_opt.explain(lambda b: np.asarray(b).reshape(len(b), -1).sum(1), X[0].numpy(), **SETTINGS)
    assert np.array_equal(first.trajectory, plain.trajectory)


def test_bad_outputs_are_named():
    with pytest.raises(ValueError, match="returned a str"):
        model_scores("nope")
    with pytest.raises(ValueError, match="target=2 is not valid with output=<callable>"):
        trace_opt.explain(Wrapped("dict"), X[0], 2, output=lambda out: out["logits"][:, 0], **SETTINGS)
    with pytest.raises(ValueError, match="returned 3 values for a batch of 1 inputs"):
        trace_opt.explain(Wrapped("dict"), X[0], output=lambda out: out["logits"].reshape(-1)[:6], **SETTINGS)
    with pytest.raises(ValueError, match="raw output"):
        trace_opt.explain(Wrapped("dict"), X[0], output=lambda out: out, backend="onnxruntime", **SETTINGS)


def test_a_tiny_hugging_face_image_classifier():
    """A random-initialised ViT (transformers; no weights downloaded) returns an ImageClassifierOutput:
    explained as is, it gives the trajectory of the same network returning its .logits tensor."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(
        image_size=8, patch_size=4, num_channels=1, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, num_labels=3,
    )  # fmt: skip
    torch.manual_seed(0)
    vit = transformers.ViTForImageClassification(config).eval()
    assert not isinstance(vit(torch.rand(1, 1, 8, 8)), torch.Tensor)

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vit = vit

        def forward(self, x):
            return self.vit(x).logits

    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(3))
    hf = trace_opt.explain(vit, x, features=2, solver="exact", progress=False)
    plain = trace_opt.explain(LogitsOnly().eval(), x, features=2, solver="exact", progress=False)
    assert hf.target == plain.target and np.array_equal(hf.trajectory, plain.trajectory)
    assert hf.score == pytest.approx(plain.score, rel=1e-6)


def test_wrappers_keep_the_models_mode():
    import warnings

    from trace_opt.models.outputs import ScoreFunction, TensorScores

    net = Wrapped("dict").eval()
    assert not ScoreFunction(net, lambda out: out["logits"][:, 0]).training and not TensorScores(net).training
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "training mode" warning for an eval model behind a score function
        trace_opt.explain(net, X[0], output=lambda out: out["logits"][:, 0], **SETTINGS)


def test_a_score_function_under_bf16_is_rescored_in_fp32():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()

    def margin(out):
        return out[:, 0] - out[:, 1]

    ex = trace_opt.explain(net, X[0].float(), output=margin, precision="bf16", **SETTINGS)
    fp32 = trace_opt.explain(net, X[0].float(), output=margin, **SETTINGS)
    assert ex.precision == "bf16" and sorted(ex.trajectory) == list(range(4))
    # its score is the fp32 value of its own trajectory (the fp32 explanation's oracle scores it)
    from trace_opt.core.problem import TraceProblem

    assert ex.score == pytest.approx(TraceProblem(fp32.oracle, "le-mo").score(ex.trajectory), rel=1e-5, abs=1e-6)
