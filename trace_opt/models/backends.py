"""Backends that run a torch module's forward passes: ``"torch"`` (the module itself) or ``"onnxruntime"``.

``with_backend(model, backend, x)`` returns what the oracle calls. For ``"onnxruntime"`` (the ``[onnx]``
extra: ``pip install "trace-trajectories[onnx]"``) the module is exported once per (module, input shape,
threads) with ``torch.onnx.export`` (a dynamic batch axis), run by an ONNX Runtime CPU session with the
calling thread count, and checked against torch on four inputs before use (x, a zero image, x with noise,
x mirrored): a largest score difference above ``ONNX_TOLERANCE`` x (1 + the largest |score|) refuses it.
Its values are fp32, rounded differently from torch's in the last bits (EfficientNet-Lite0: ~1e-5 on logits).
Measured on one CPU thread here (``bench/results/imagenet-cpu.md``, EfficientNet-Lite0, batch 16): 59.1 passes/s
against torch's 27.7 (channels_last) and 21.4 (standard layout).
"""

from __future__ import annotations

import io
import warnings
import weakref

import numpy as np
import torch

from trace_opt.core.validation import check_choice
from trace_opt.models.outputs import TensorScores, model_scores

BACKENDS = ("torch", "onnxruntime")
#: the largest relative disagreement of an exported module with torch that is accepted
ONNX_TOLERANCE = 1e-4

_SESSIONS: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


class OnnxRuntimeModule(torch.nn.Module):
    """A torch module's forward pass run by ONNX Runtime: float32 batch tensor in (any layout), scores out.

    ``source`` is the exported module's class name; ``threads`` the session's intra-op threads."""

    def __init__(self, session, source: str, threads: int):
        super().__init__()
        self.session = session
        self.source = source
        self.threads = threads
        self._input = session.get_inputs()[0].name
        self.eval()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(inputs.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self.session.run(None, {self._input: batch})[0])

    def __repr__(self) -> str:
        return f"OnnxRuntimeModule({self.source}, threads={self.threads})"


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ValueError(
            "backend='onnxruntime' needs the onnxruntime package: pip install "
            "'trace-trajectories[onnx]' (or onnxruntime onnx)"
        ) from None
    return onnxruntime


def _export(model: torch.nn.Module, example: torch.Tensor, threads: int) -> OnnxRuntimeModule:
    ort = _onnxruntime()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        try:
            torch.onnx.export(
                model,
                (example,),
                buf,  # type: ignore[arg-type]  # torch's stub says a path; a file object works (documented)
                input_names=["x"],
                output_names=["scores"],
                dynamic_axes={"x": {0: "batch"}, "scores": {0: "batch"}},
                dynamo=False,
            )
        except Exception as exc:  # noqa: BLE001 - any exporter failure is the same answer to the user
            raise ValueError(
                f"backend='onnxruntime': torch.onnx.export could not export the model "
                f"({type(exc).__name__}: {exc}); use backend='torch'"
            ) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
    return OnnxRuntimeModule(session, type(model).__name__, threads)


def _check_against_torch(model: torch.nn.Module, wrapped: OnnxRuntimeModule, x: torch.Tensor) -> float:
    """The largest |score difference| of the export against torch on four inputs; refuses a large one."""
    g = torch.Generator().manual_seed(0)
    batch = torch.stack([x, torch.zeros_like(x), x + 0.1 * torch.randn(x.shape, generator=g), x.flip(-1)])
    with torch.inference_mode():
        want = model_scores(model(batch)).double()
        got = wrapped(batch).double()
    if got.shape != want.shape:
        raise ValueError(
            f"backend='onnxruntime': the exported model returned shape {tuple(got.shape)} where torch "
            f"returns {tuple(want.shape)}; use backend='torch'"
        )
    diff = float((got - want).abs().max())
    scale = 1.0 + float(want.abs().max())
    if not diff <= ONNX_TOLERANCE * scale:
        raise ValueError(
            f"backend='onnxruntime': the exported model disagrees with torch by {diff:.3g} on its "
            f"scores (tolerance {ONNX_TOLERANCE * scale:.3g}); use backend='torch'"
        )
    return diff


def with_backend(model, backend: str, x) -> object:
    """The callable whose forward passes the oracle makes: ``model`` itself for ``"torch"``; for
    ``"onnxruntime"`` an ``OnnxRuntimeModule`` exported from the torch module ``model`` for inputs shaped like
    ``x`` (cached per module, shape, torch's current thread count and the weights' storage and version, so a
    module trained or loaded since is exported again; checked against torch when built).
    ONNX Runtime runs on the CPU in fp32: a model on another device is refused."""
    check_choice("backend", backend, BACKENDS)
    if backend == "torch" or isinstance(model, OnnxRuntimeModule):
        return model
    if not isinstance(model, torch.nn.Module):
        raise ValueError(
            f"backend='onnxruntime' runs torch modules; got a {type(model).__name__} (a callable is "
            "run as it is: use backend='torch')"
        )
    _onnxruntime()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device.type != "cpu":
        raise ValueError(f"backend='onnxruntime' runs on the CPU; the model is on {device}: use backend='torch'")
    xt = (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))).detach().float().cpu().contiguous()
    threads = torch.get_num_threads()
    # the weights' storage and in-place version: a module changed since its export is exported again
    weights = tuple((p.data_ptr(), p._version) for p in model.parameters())
    cached = _SESSIONS.setdefault(model, {})
    key = (tuple(xt.shape), threads)
    if key not in cached or cached[key][0] != weights:  # a stale export is replaced, not kept beside
        wrapped = _export(TensorScores(model), xt.unsqueeze(0), threads)
        wrapped.max_difference = _check_against_torch(model, wrapped, xt)  # type: ignore[assignment]
        cached[key] = (weights, wrapped)
    return cached[key][1]
