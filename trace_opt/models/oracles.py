"""Oracles over torch models and black-box callables (the torch layer): D(S) of one input.

A set S is a row of a bool matrix ``masks`` (B x t): ``masks[b, i]`` is True when feature i is
deleted (replaced by the reference). ``D(S) = f(x with S deleted)[target]`` under ``output``.

Counters (plain attributes): ``forward_passes`` = unique masked inputs the model saw,
``batches`` = model calls, ``cache_hits`` = requested rows served without the model,
``requests`` = rows requested in total. A request refused by a limit (``BudgetExhausted``) counts
nothing. A request that fails part-way (Ctrl-C, an exception or a non-finite value from the model)
serves nothing: it counts only the inputs the model did evaluate, as requests and forward passes, and
caches those of the chunks that completed (asking again runs only the rest). So with the cache on
``requests == cache_hits + forward_passes`` always holds (D({}) included).

Sets go to the model in chunks of ``batch_size``; a model oracle on the CPU with t <= 64 builds each
chunk's masked inputs straight from the uint64 set keys with a numba kernel, into a reused buffer.
"""

from __future__ import annotations

import copy
import operator
import warnings
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple, cast

import numpy as np
import torch

from trace_opt.core.features import Features, as_features
from trace_opt.core.kernels import KeyTable, masked_inputs_from_keys
from trace_opt.core.oracle import Oracle
from trace_opt.core.validation import check_choice, check_finite_array, check_positive_int, check_real
from trace_opt.models.backends import OnnxRuntimeModule
from trace_opt.models.outputs import ScoreFunction, model_scores
from trace_opt.models.references import ReferenceSpec, make_reference

#: what ``features`` may be: None (a default for the input), a grid size (an int or (rows, cols)), an integer
#: feature map of the input's shape, or a ``Features``
FeaturesSpec = int | tuple[int, int] | np.ndarray | torch.Tensor | Features | None
#: a torch device or its name (``"cpu"``, ``"cuda"``, ``"cuda:0"``)
DeviceLike = str | torch.device

OUTPUTS = ("logit", "prob", "log_prob")
#: arithmetic of a model's forward passes (``ModelOracle(precision=)``)
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


@contextmanager
def precision_context(precision: str, device: torch.device):
    """Run a model call in ``precision``: ``"fp32"`` strict float32 (TF32 off on a GPU, where torch
    uses TF32 for convolutions by default), ``"tf32"`` TF32 matmuls and convolutions (GPU only; the
    same as fp32 on a CPU), ``"bf16"`` / ``"fp16"`` autocast to that type (on a CPU, bf16 autocast is
    supported by torch; fp16 only for some operations). The backend flags are restored afterwards."""
    if precision in _AUTOCAST:
        with torch.autocast(device.type, dtype=_AUTOCAST[precision]):
            yield
        return
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


#: what a black box's scores are (``CallableOracle(output=)``): ``"raw"`` (unknown scale) or a declared kind
CALLABLE_OUTPUTS = ("raw",) + OUTPUTS


def _check_target(target, n_classes: int, what: str) -> int:
    """An integer in 0..n_classes-1; Python/numpy ints and 0-d integer tensors/arrays (labels) are accepted."""
    value = None
    if not isinstance(target, (bool, np.bool_)):
        try:
            value = operator.index(target)
        except TypeError:
            value = None
    if value is None:
        raise ValueError(f"target={target!r} is not an integer; expected an integer {what} in 0..{n_classes - 1}")
    if not 0 <= value < n_classes:
        raise ValueError(f"target={target!r} is out of range; expected an integer {what} in 0..{n_classes - 1}")
    return int(value)


def _check_rows(shape, n: int, who: str) -> None:
    """Refuse a model answer whose first dimension is not the batch's ``n`` inputs (more rows would be
    cut off silently, fewer broadcast), naming the answer's shape."""
    if len(shape) == 0 or shape[0] != n:
        raise ValueError(
            f"{who} returned output of shape {tuple(shape)} for a batch of {n} input(s); "
            f"expected {n} row(s), one per input"
        )


def as_device(device: DeviceLike) -> torch.device:
    """``device`` as a ``torch.device``; a ValueError naming it when torch cannot parse it or this
    machine has no such device (e.g. ``"cuda"`` without a GPU or a CUDA build of torch)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not valid; expected a torch device such as 'cpu', 'cuda' or 'cuda:0' ({exc})"
        ) from None
    if dev.type == "cuda" and (
        not torch.cuda.is_available() or (dev.index is not None and dev.index >= torch.cuda.device_count())
    ):
        raise ValueError(
            f"device={device!r} is not available here: torch.cuda.is_available() is "
            f"{torch.cuda.is_available()} and {torch.cuda.device_count()} CUDA device(s) are visible; "
            "use device='cpu'"
        )
    return dev


def _output_transform(output: str):
    if output == "logit":
        return lambda z: z
    if output == "prob":
        return lambda z: torch.softmax(z, dim=-1)
    return lambda z: torch.log_softmax(z, dim=-1)


class BoundInput(NamedTuple):
    """One input as an oracle holds it, with its features and reference, built once (``bind_input``).

    For a torch module: ``x`` a floating tensor on the oracle's device, ``reference`` a tensor of its shape
    and dtype there (both contiguous); for a callable: float64 numpy arrays. ``features`` covers ``x``."""

    x: torch.Tensor | np.ndarray
    features: Features
    reference: torch.Tensor | np.ndarray


def bind_model_input(
    x: Any, features: FeaturesSpec, reference: ReferenceSpec, device: DeviceLike, **reference_options: Any
) -> BoundInput:
    """``x`` as a ``ModelOracle`` holds it (a floating tensor on ``device``: an integer tensor becomes
    float32), its ``Features`` and its reference (``make_reference``, computed on that tensor). Checks x's
    form and finiteness first (before the probe pass, else reported as a non-finite model output)."""
    device = as_device(device)
    check_real("x", x)
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.dim() < 1 or x.numel() < 2:
        raise ValueError(f"x must be one input without batch dimension (e.g. C x H x W); got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.float()
    check_finite_array("x", x)
    x = x.detach().to(device).contiguous()
    feats = as_features(features, tuple(x.shape))
    ref = make_reference(reference, x, feats, **reference_options).to(device).contiguous()
    return BoundInput(x, feats, ref)


def bind_callable_input(
    x: Any, features: FeaturesSpec, reference: ReferenceSpec, **reference_options: Any
) -> BoundInput:
    """``x`` as a ``CallableOracle`` holds it (float64 numpy), its ``Features`` (None: one per column of a
    1-D row, else a 4 x 4 grid) and its reference as float64 numpy."""
    check_real("x", x)
    check_finite_array("x", x)  # before the probe pass
    xa = np.asarray(x, dtype=np.float64)
    if xa.ndim < 1 or xa.size < 2:
        raise ValueError(f"x must be one input without batch dimension; got shape {xa.shape}")
    if features is None:
        features = np.arange(xa.shape[-1]) if xa.ndim == 1 else 4
    feats = as_features(features, xa.shape)
    ref = make_reference(reference, torch.as_tensor(xa), feats, **reference_options)
    return BoundInput(xa, feats, ref.numpy().astype(np.float64))


def bind_input(
    model: Any,
    x: Any,
    *,
    features: FeaturesSpec = None,
    reference: ReferenceSpec = "zeros",
    device: DeviceLike = "cpu",
    **reference_options: Any,
) -> BoundInput:
    """The input of ``make_oracle(model, x, ...)`` bound once: x converted as that oracle converts it, its
    features (None: a 4 x 4 grid for a torch module; for a callable, one feature per column of a 1-D row)
    and its reference. ``make_oracle(model, bound, target, ...)`` then uses them as built (nothing is
    rebuilt); every check here comes before any forward pass."""
    check_real("x", x)  # None or complex: refused before any conversion
    if isinstance(model, torch.nn.Module):
        xt = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)
        return bind_model_input(xt, 4 if features is None else features, reference, device, **reference_options)
    xa = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    ref = reference.detach().cpu().numpy() if isinstance(reference, torch.Tensor) else reference
    return bind_callable_input(xa, features, ref, **reference_options)


def _bound_on(x, device: torch.device | None = None) -> BoundInput | None:
    """``x`` when it is a ``BoundInput`` (tensors on ``device`` for a torch oracle, numpy arrays for a callable's
    when ``device`` is None), else None."""
    if not isinstance(x, BoundInput):
        return None
    if device is None and not isinstance(x.x, np.ndarray):
        raise ValueError("the bound input holds a tensor; a callable's oracle takes an input bound for a callable")
    if device is not None and (not isinstance(x.x, torch.Tensor) or x.x.device != device):
        raise ValueError(f"the bound input is not a tensor on {device}; bind it with device={str(device)!r}")
    return x


class ModelOracle(Oracle):
    """D(S) from a torch module for one input.

    Parameters
    ----------
    model : torch.nn.Module (or any callable on a batch tensor) returning ``(B, n_classes)`` scores.
        It is used as given (call ``model.eval()`` yourself; a module in training mode gets a warning).
        On the CPU the batch tensor it receives is a reused buffer: the model must not keep it.
    x : the input without batch dimension, e.g. ``C x H x W``, or a ``BoundInput`` (``bind_input``: its
        features and reference are used as built, and ``features`` / ``reference`` here are ignored).
    target : class index whose output is explained; None takes the predicted class (the argmax of the
        model's scores on ``x``, read from the probe pass, so it costs nothing extra).
    features : ``Features``, a grid size (int or (rows, cols)), or an integer feature map.
    reference : a kind from ``trace_opt.models.references.REFERENCE_KINDS``, a number, or a tensor of x's shape.
    output : ``"logit"``, ``"prob"`` (softmax) or ``"log_prob"``.
    batch_size : masked inputs per model call (Captum's ``internal_batch_size``).
    device : where the model runs (``"cpu"``, ``"cuda"``, ...); the model must already live there.
    precision : ``"fp32"`` (default), ``"tf32"``, ``"bf16"`` or ``"fp16"`` (``precision_context``). Images
        of several channels (``C x H x W``, C > 1) go to the model as channels_last on every device and in
        every precision (the fast convolution layout of oneDNN and cuDNN).
    pad_multiple : pad every model call to a multiple of this many inputs by repeating the last one
        (1: no padding). Some CPU kernels round differently for small batch sizes, so a set's value can
        depend on the batch it came in; padding to a multiple of 4 or 8 removes that. Padded inputs are
        not forward passes (the model's time on them is part of the model call).
    reference_options : passed to ``make_reference`` (``value``, ``sigma``, ``noise_std``, ``seed``).
    """

    _source = "the model"

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor | np.ndarray | BoundInput,
        target: int | None,
        features: FeaturesSpec = 4,
        reference: ReferenceSpec = "zeros",
        output: str = "logit",
        batch_size: int = 64,
        device: DeviceLike = "cpu",
        cache: bool = True,
        pad_multiple: int = 1,
        precision: str = "fp32",
        **reference_options: Any,
    ) -> None:
        check_choice("output", output, OUTPUTS)
        self.precision = check_choice("precision", precision, PRECISIONS)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.pad_multiple = check_positive_int("pad_multiple", pad_multiple)
        self.device = as_device(device)
        bound = _bound_on(x, self.device) or bind_model_input(x, features, reference, self.device, **reference_options)
        # contiguous x, reference and feature ids: masked inputs have the standard layout on every path
        # (torch.where follows its inputs' layout, and a layout can change the model's rounding)
        self.x: torch.Tensor = cast(torch.Tensor, bound.x)
        self.features: Features = bound.features
        self.reference: torch.Tensor = cast(torch.Tensor, bound.reference)
        super().__init__(self.features.t, cache=cache)
        self.model = model
        self.output = output
        self._transform = _output_transform(output)
        if isinstance(model, torch.nn.Module) and model.training:
            warnings.warn(
                "model is in training mode (dropout/batch-norm make D(S) random); call model.eval()", stacklevel=2
            )
        ids = np.broadcast_to(self.features.ids, tuple(self.x.shape))
        self._ids = torch.as_tensor(np.array(ids, order="C"), device=self.device)
        self._setup_key_inputs(ids)
        # channels_last (N x H x W x C in memory) for images of several channels, on every device and
        # precision: oneDNN's and cuDNN's fast convolution layout (EfficientNet-Lite0, one CPU thread,
        # batch 16: 1.29x the passes/s of the standard layout in fp32, and bf16 with it 2.54x;
        # bench/results/imagenet-cpu.md). The values are fp32 as before, rounded differently in the last
        # bits. One channel: the same memory order, unchanged.
        # ONNX Runtime takes the standard layout.
        self._channels_last = self.x.dim() == 3 and self.x.shape[0] > 1 and not isinstance(model, OnnxRuntimeModule)
        z = self._probe()
        self.n_classes = int(z.shape[1])
        if target is None:
            target = int(z[0].argmax())
        self.target = _check_target(target, self.n_classes, "class index")
        self._record_probe(self._scores(z)[:1])

    def _probe(self) -> torch.Tensor:
        """One forward pass on the unmodified input, which checks shapes and the target and is D({}): the
        model's scores. Run in the layout of every later call (so D({}) is rounded as they are);
        a model that refuses channels_last (e.g. one calling ``x.view(B, -1)``) gets the standard layout."""
        with torch.inference_mode(), precision_context(self.precision, self.device):
            probe = self._pad(self.x.unsqueeze(0))
            z = None
            if self._channels_last:
                try:
                    z = model_scores(self.model(probe.contiguous(memory_format=torch.channels_last)))
                except Exception:  # the standard layout below
                    self._channels_last = False
            if z is None:
                try:
                    z = model_scores(self.model(probe))
                except Exception as exc:  # a shape mismatch inside the model
                    raise ValueError(
                        f"x of shape {tuple(self.x.shape)} could not be passed to the model as a batch of one: {exc}"
                    ) from exc
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[0] != len(probe):
            raise ValueError(
                f"the model must return scores of shape (batch, n_classes); got "
                f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__} for a batch of "
                f"{len(probe)}"
            )
        return z

    def _setup_key_inputs(self, ids: np.ndarray) -> None:
        """The fast paths from uint64 set keys: on the CPU (t <= 64, float32/64) a numba kernel writes the
        masked inputs into a reused buffer; on another device (t <= 63) the keys go to the device and the
        inputs are built there (``_device_inputs_of_keys``: no host-side mask matrix per call)."""
        self._buffer: np.ndarray | None = None
        self._device_keys = self.device.type != "cpu" and self.t <= 63
        self._keyed_forward = self._device_keys or (
            self.device.type == "cpu"
            and self.t <= 64
            and self.x.dtype in (torch.float32, torch.float64)
            and self.reference.dtype == self.x.dtype
        )
        if self._device_keys:
            self._shifts = torch.arange(self.t, dtype=torch.int64, device=self.device)
        elif self._keyed_forward:
            self._ids_flat = np.ascontiguousarray(ids, dtype=np.uint64).reshape(-1)
            self._x_flat = np.ascontiguousarray(self.x.numpy()).reshape(-1)
            self._ref_flat = np.ascontiguousarray(self.reference.numpy()).reshape(-1)

    def masked_inputs(self, masks: np.ndarray) -> torch.Tensor:
        """The inputs with each row's features deleted, built in one vectorised op: (B, *x.shape)."""
        m = torch.as_tensor(np.asarray(masks, dtype=bool), device=self.device)
        pix = m[:, self._ids]  # (B, *x.shape): True where the element's feature is deleted
        return torch.where(pix, self.reference.unsqueeze(0), self.x.unsqueeze(0))

    def _pad(self, inputs: torch.Tensor) -> torch.Tensor:
        extra = -len(inputs) % self.pad_multiple
        if not extra:
            return inputs
        return torch.cat([inputs, inputs[-1:].expand(extra, *inputs.shape[1:])])

    def _device_inputs_of_keys(self, keys: np.ndarray) -> torch.Tensor:
        """Masked inputs (padded) of uint64 set keys built on the oracle's device: the keys travel as one
        int64 vector, the bits and ``torch.where`` run there. (B', *x.shape)"""
        k = torch.as_tensor(np.ascontiguousarray(keys).view(np.int64), device=self.device)
        bits = ((k[:, None] >> self._shifts) & 1).bool()  # (B, t): True where the feature is deleted
        with torch.inference_mode():
            return self._pad(torch.where(bits[:, self._ids], self.reference.unsqueeze(0), self.x.unsqueeze(0)))

    def _inputs_of_keys(self, keys: np.ndarray) -> torch.Tensor:
        """Masked inputs (padded) of uint64 set keys, written into the reused buffer: (B', *x.shape)."""
        if self._device_keys:
            return self._device_inputs_of_keys(keys)
        n_in = -(-len(keys) // self.pad_multiple) * self.pad_multiple
        if self._buffer is None or len(self._buffer) < n_in:
            self._buffer = np.empty((n_in, self._x_flat.shape[0]), dtype=self._x_flat.dtype)
            self._buffer_tensor = torch.from_numpy(self._buffer).view(n_in, *self.x.shape)
        masked_inputs_from_keys(keys, n_in, self._ids_flat, self._x_flat, self._ref_flat, self._buffer)
        return self._buffer_tensor[:n_in]

    def _scores(self, z: torch.Tensor) -> np.ndarray:
        """Column ``target`` of the model's scores under ``output`` as numpy (exact: logits in their own
        dtype, widened to float64 by the caller; prob/log_prob computed in float64)."""
        if self.output == "logit":
            try:
                return z.numpy()[:, self.target]  # a CPU tensor without grad: no copy, no torch op
            except (RuntimeError, TypeError):  # another device, bfloat16, requires grad
                return z[:, self.target].double().cpu().numpy()
        return self._transform(z.double())[:, self.target].cpu().numpy()

    def _call_model(self, inputs: torch.Tensor, n_in: int, n: int) -> np.ndarray:
        if self._channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), precision_context(self.precision, self.device):
            z = model_scores(self.model(inputs))
        self.batches += 1
        _check_rows(tuple(z.shape) if isinstance(z, torch.Tensor) else np.shape(z), n_in, "the model")
        return self._scores(z)[:n]  # every answer's rows checked (padding rows dropped here)

    def _forward(self, masks: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            inputs = self._pad(self.masked_inputs(masks))
        return self._call_model(inputs, inputs.shape[0], len(masks))

    def _forward_keys(self, keys: np.ndarray) -> np.ndarray:  # only called while _keyed_forward (see _run)
        inputs = self._inputs_of_keys(keys)
        return self._call_model(inputs, inputs.shape[0], len(keys))

    @contextmanager
    def output_view(self, output: str | None = None, precision: str | None = None):
        """A view of this oracle with another ``output`` (e.g. ``"prob"`` for the paper's greedy start on
        probabilities) or ``precision`` (e.g. ``"fp32"`` to re-score a low-precision search): same model,
        input, target, features, reference and limits, its own cache. The passes it makes are counted by
        this oracle (they count against the same budget) when the block ends, also on an exception."""
        output = self.output if output is None else check_choice("output", output, OUTPUTS)
        precision = self.precision if precision is None else check_choice("precision", precision, PRECISIONS)
        view = copy.copy(self)
        view.output, view._transform, view.precision = output, _output_transform(output), precision
        view._cache = KeyTable() if self.t <= 64 else {}
        view._buffer = None
        counted = ("forward_passes", "batches", "cache_hits", "requests", "forward_seconds")
        try:
            yield view
        finally:
            for name in counted:
                setattr(self, name, getattr(view, name))


class CallableOracle(Oracle):
    """D(S) from any black-box callable: numpy batch ``(B, *x.shape)`` in, scores out.

    ``fn`` returns ``(B,)`` scores, or ``(B, n_classes)`` from which column ``target`` is taken
    (e.g. a scikit-learn model's ``predict_proba``); the latter needs an explicit ``target``.
    ``reference`` is as for ``ModelOracle``; ``x`` may be a ``BoundInput`` of a callable (``bind_input``).

    ``output`` declares what the scores are; they are always used as returned (nothing is applied).
    ``"raw"`` (default): unknown scale. ``"prob"``, ``"logit"`` or ``"log_prob"``: the black box returns
    probabilities, logits or log-probabilities, so scale-dependent choices (SA's default temperature)
    can use the rules for that kind.
    """

    _source = "fn"

    def __init__(
        self,
        fn: Callable[[np.ndarray], Any],
        x: np.ndarray | BoundInput | Any,
        features: FeaturesSpec = None,
        reference: ReferenceSpec = "zeros",
        target: int | None = None,
        batch_size: int = 256,
        cache: bool = True,
        output: str = "raw",
        **reference_options: Any,
    ) -> None:
        if not callable(fn):
            raise ValueError(f"fn must be callable (numpy batch -> scores); got {type(fn).__name__}")
        self.output = check_choice("output", output, CALLABLE_OUTPUTS)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.fn = fn
        bound = _bound_on(x) or bind_callable_input(x, features, reference, **reference_options)
        self.x: np.ndarray = cast(np.ndarray, bound.x)
        self.features: Features = bound.features
        self.reference: np.ndarray = cast(np.ndarray, bound.reference)
        xa = self.x
        super().__init__(self.features.t, cache=cache)
        self._ids = np.broadcast_to(self.features.ids, xa.shape)
        probe = np.asarray(fn(xa[None]))
        if probe.ndim == 1 and probe.shape[0] == 1:
            self.n_classes = None
            if target is not None:
                raise ValueError("target must be None when fn returns one score per input")
        elif probe.ndim == 2 and probe.shape[0] == 1:
            self.n_classes = probe.shape[1]
            if target is None:
                raise ValueError(
                    "target=None: the callable model returns (B, n_classes) scores, so give target= "
                    "the column to explain (e.g. the predicted class); only a callable returning "
                    "(B,) scores takes target=None"
                )
            target = _check_target(target, self.n_classes, "column")
        else:
            raise ValueError(
                f"fn must return shape (B,) or (B, n_classes) for a batch of B inputs; got {probe.shape} for B=1"
            )
        self._columns = probe.shape[1:]  # every later call must return the same columns
        self.target = None if target is None else int(target)
        self._record_probe(self._select(probe))

    def _select(self, scores) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        return s if self.target is None else s[:, self.target]

    def masked_inputs(self, masks: np.ndarray) -> np.ndarray:
        pix = np.asarray(masks, dtype=bool)[:, self._ids]
        return np.where(pix, self.reference[None], self.x[None])

    def _forward(self, masks: np.ndarray) -> np.ndarray:
        scores = np.asarray(self.fn(self.masked_inputs(masks)))
        self.batches += 1
        _check_rows(scores.shape, len(masks), "fn")
        if scores.shape[1:] != self._columns:
            raise ValueError(
                f"fn returned scores of shape {scores.shape} for a batch of {len(masks)}, but "
                f"{(1, *self._columns)} for the first input: a model must return the same number of "
                "columns (classes) on every call"
            )
        return self._select(scores).reshape(-1)


def scored_model(model: Any, fn: Callable) -> Any:
    """``model`` with ``fn`` applied to its raw output batch (a torch module stays one)."""
    if isinstance(model, torch.nn.Module):
        return ScoreFunction(model, fn)
    return lambda batch: np.asarray(fn(model(batch)), dtype=np.float64).reshape(len(batch))


def make_oracle(
    model: Any,
    x: Any,
    target: int | None = None,
    *,
    features: FeaturesSpec = None,
    reference: ReferenceSpec = "zeros",
    output: str | Callable | None = None,
    batch_size: int = 64,
    device: DeviceLike = "cpu",
    precision: str = "fp32",
    cache: bool = True,
    **reference_options: Any,
) -> Oracle:
    """The oracle of D(S) for a model, whatever it is: the one place that chooses and builds it.

    * a ``torch.nn.Module``: a ``ModelOracle`` (``output`` ``"logit"`` by default, ``"prob"``,
      ``"log_prob"``; ``device``, ``precision``); x becomes a float32 tensor unless it is a tensor;
    * any other callable (a black box from a numpy batch to scores): a ``CallableOracle``; ``output``
      declares what its scores are (None or ``"raw"``: unknown scale; ``"prob"``, ``"logit"``,
      ``"log_prob"``: used as returned, for scale-dependent defaults); ``device`` is checked but unused
      and ``precision`` must stay ``"fp32"``.

    ``features`` (None: a 4 x 4 grid for inputs of 2 or more dims, one feature per column of a 1-D row),
    ``reference`` and ``reference_options`` as for ``make_reference``; ``x`` may instead be a ``BoundInput``
    (``bind_input(model, x, ...)``), whose features and reference are used as built. Each oracle runs one
    probe pass on x (D({}), counted) when it is built.
    """
    bound = _bound_on(x, as_device(device) if isinstance(model, torch.nn.Module) else None)
    if callable(output):  # a score function of the raw output batch: explained as the one column it makes
        if target not in (None, 0):
            raise ValueError(f"target={target!r} is not valid with output=<callable>: its score is one column")
        module = isinstance(model, torch.nn.Module)  # a module's score is its one column; a callable's is (B,)
        model, output, target = scored_model(model, output), ("logit" if module else None), (0 if module else None)
    if isinstance(model, torch.nn.Module):
        if bound is None:
            bound = bind_input(model, x, features=features, reference=reference, device=device, **reference_options)
        return ModelOracle(
            model,
            bound,
            target,
            output="logit" if output is None else output,
            batch_size=batch_size,
            device=device,
            cache=cache,
            precision=precision,
        )
    if callable(model):
        as_device(device)  # unused by a callable, but a bad value is still refused
        if precision != "fp32":
            raise ValueError(f"precision={precision!r} needs a torch module; a callable's arithmetic is its own")
        if bound is None:
            bound = bind_input(model, x, features=features, reference=reference, **reference_options)
        return CallableOracle(
            model, bound, target=target, batch_size=batch_size, cache=cache, output="raw" if output is None else output
        )
    raise ValueError(f"model must be a torch.nn.Module or a callable; got {type(model).__name__}")
