"""Model oracles: D(S) for batches of feature sets, with batching, an exact cache and counters.

A set S is a row of a bool matrix ``masks`` (B x t): ``masks[b, i]`` is True when feature i is
deleted (replaced by the reference). ``D(S) = f(x with S deleted)[target]`` under ``output``.

Counters (plain attributes): ``forward_passes`` = unique masked inputs the model saw,
``batches`` = model calls, ``cache_hits`` = requested rows served without the model,
``requests`` = rows requested in total. A request refused by a limit (``BudgetExhausted``) counts
nothing, so with the cache on ``requests == cache_hits + forward_passes`` (D({}) included).
"""
from __future__ import annotations

import operator
import time
import warnings
from typing import Callable

import numpy as np
import torch

from ._validation import check_choice, check_finite_values, check_positive_int
from .features import Features, as_features
from .kernels import KeyTable
from .references import make_reference

OUTPUTS = ("logit", "prob", "log_prob")


class BudgetExhausted(Exception):
    """Raised by an oracle when a request would exceed its forward-pass or time limit.

    Nothing of the refused request is evaluated; the cache and counters stay consistent.
    """


class Oracle:
    """Base class: cache by exact set key, counters, limits. Subclasses implement ``_forward``."""

    t: int

    def __init__(self, t: int, cache: bool = True):
        if t < 2:
            raise ValueError(f"features define t={t}; TRACE needs t >= 2 features")
        self.t = int(t)
        self.use_cache = bool(cache)
        # exact cache: a numba hash table on uint64 keys (t <= 64), else a dict on packed bytes
        self._cache = KeyTable() if t <= 64 else {}
        self.forward_passes = 0
        self.batches = 0
        self.cache_hits = 0
        self.requests = 0
        self.forward_seconds = 0.0
        #: absolute forward-pass count at which requests are refused (None = no limit)
        self.forward_limit: int | None = None
        #: ``time.monotonic()`` value after which requests are refused (None = no limit)
        self.deadline: float | None = None
        self._bits = (np.uint64(1) << np.arange(min(t, 64), dtype=np.uint64)) if t <= 64 else None

    # ----------------------------------------------------------------- keys
    @property
    def exact_uint64_keys(self) -> bool:
        """True when sets are keyed by a uint64 bitmask (t <= 64)."""
        return self.t <= 64

    def keys_of(self, masks: np.ndarray):
        """Exact cache keys of the rows of ``masks``: uint64 bitmasks (t <= 64) or packed bytes."""
        if self._bits is not None:
            return (masks.astype(np.uint64) * self._bits).sum(axis=1, dtype=np.uint64)
        packed = np.packbits(masks, axis=1)
        return [row.tobytes() for row in packed]

    def masks_of_keys(self, keys: np.ndarray) -> np.ndarray:
        """Bool masks (B x t) of uint64 keys (t <= 64 only)."""
        keys = np.asarray(keys, dtype=np.uint64)
        return ((keys[:, None] >> np.arange(self.t, dtype=np.uint64)) & np.uint64(1)).astype(bool)

    # ------------------------------------------------------------ evaluate
    def evaluate(self, masks) -> np.ndarray:
        """D(S) for each row of the bool matrix ``masks`` (B x t, or a single row of length t)."""
        m = np.asarray(masks)
        single = m.ndim == 1
        if single:
            m = m[None, :]
        if m.ndim != 2 or m.shape[1] != self.t:
            raise ValueError(f"masks must be a bool matrix of shape (B, {self.t}); got shape {m.shape}")
        m = m.astype(bool, copy=False)
        values = self._evaluate(self.keys_of(m), lambda rows: m[rows])
        return values[0:1].reshape(()) if single else values

    def evaluate_keys(self, keys) -> np.ndarray:
        """D(S) for sets given as uint64 bitmasks (bit i set = feature i deleted); t <= 64 only."""
        if self._bits is None:
            raise ValueError("evaluate_keys needs t <= 64; use evaluate(masks) for larger t")
        k = np.asarray(keys, dtype=np.uint64).ravel()
        return self._evaluate(k, lambda rows: self.masks_of_keys(k[rows]))

    def _evaluate(self, keys, masks_for_rows: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        # counters move only once the request is accepted: a refused request changes nothing
        n = len(keys)
        out = np.empty(n, dtype=np.float64)
        if not self.use_cache:
            self._check_limits(n)
            self.requests += n
            out[:] = self._run(masks_for_rows(np.arange(n)))
            return out
        cache = self._cache
        if isinstance(cache, KeyTable) and isinstance(keys, np.ndarray):
            return self._evaluate_table(keys, masks_for_rows, out)
        key_list = keys.tolist() if isinstance(keys, np.ndarray) else keys
        missing_rows: list[int] = []
        first_row: dict = {}
        dup_rows: list[tuple[int, int]] = []
        for r, key in enumerate(key_list):
            v = cache.get(key)
            if v is not None:
                out[r] = v
            elif key in first_row:
                dup_rows.append((r, first_row[key]))
            else:
                first_row[key] = r
                missing_rows.append(r)
        if missing_rows:
            self._check_limits(len(missing_rows))
        self.requests += n
        self.cache_hits += n - len(missing_rows)
        if missing_rows:
            rows = np.asarray(missing_rows)
            vals = self._run(masks_for_rows(rows))
            out[rows] = vals
            for r, v in zip(missing_rows, vals.tolist()):
                cache[key_list[r]] = v
        for r, src in dup_rows:
            out[r] = out[src]
        return out

    def _evaluate_table(self, keys: np.ndarray, masks_for_rows, out: np.ndarray) -> np.ndarray:
        """The cached path of ``_evaluate`` with the numba table (same rows, order and counters)."""
        vals, missing, dup_src = self._cache.lookup(keys)
        out[:] = vals
        if len(missing):
            self._check_limits(len(missing))
        self.requests += len(keys)
        self.cache_hits += len(keys) - len(missing)
        if len(missing):
            new_vals = self._run(masks_for_rows(missing))
            out[missing] = new_vals
            self._cache.insert(keys[missing], new_vals)
            dup = dup_src >= 0
            if dup.any():
                out[dup] = out[dup_src[dup]]
        return out

    def _check_limits(self, n_new: int) -> None:
        if self.forward_limit is not None and self.forward_passes + n_new > self.forward_limit:
            raise BudgetExhausted(
                f"{n_new} forward pass(es) requested with {self.forward_limit - self.forward_passes} left")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExhausted("time limit reached")

    def _run(self, masks: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        self._rows_done = 0  # chunked subclasses add each completed chunk
        try:
            vals = np.asarray(self._forward(masks), dtype=np.float64).reshape(-1)
        except BaseException:
            # interrupted (Ctrl-C) or failed mid-request: count the passes the model did complete
            self.forward_passes += self._rows_done
            raise
        finally:
            self.forward_seconds += time.perf_counter() - start
        self.forward_passes += len(masks)
        _check_batch(vals, len(masks), "the set function")
        check_finite_values(vals)
        return vals

    def _forward(self, masks: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------- helpers
    def clear_cache(self) -> None:
        self._cache.clear()

    def counters(self) -> dict:
        """Counters as a plain dict (for results and reports)."""
        return {"forward_passes": self.forward_passes, "batches": self.batches,
                "cache_hits": self.cache_hits, "requests": self.requests,
                "cache_size": len(self._cache), "forward_seconds": self.forward_seconds}

    @property
    def value_full_input(self) -> float:
        """D({}) = f(x), the model's value on the unmodified input."""
        return float(self.evaluate(np.zeros(self.t, dtype=bool)))


def _check_target(target, n_classes: int, what: str) -> int:
    """An integer in 0..n_classes-1; Python/numpy ints and 0-d integer tensors/arrays (labels) are accepted."""
    value = None
    if not isinstance(target, (bool, np.bool_)):
        try:
            value = operator.index(target)
        except TypeError:
            value = None
    if value is None or not 0 <= value < n_classes:
        raise ValueError(f"target={target!r} is out of range; expected an integer {what} in 0..{n_classes - 1}")
    return int(value)


def _check_batch(values: np.ndarray, n: int, who: str) -> None:
    """Refuse a batch answer with the wrong number of scores (it would broadcast silently into D)."""
    if values.shape != (n,):
        raise ValueError(f"{who} returned {values.size} score(s) for a batch of {n} input(s); "
                         "expected one score per input")


def _output_transform(output: str):
    if output == "logit":
        return lambda z: z
    if output == "prob":
        return lambda z: torch.softmax(z, dim=-1)
    return lambda z: torch.log_softmax(z, dim=-1)


class ModelOracle(Oracle):
    """D(S) from a torch module for one input.

    Parameters
    ----------
    model : torch.nn.Module (or any callable on a batch tensor) returning ``(B, n_classes)`` scores.
        It is used as given (call ``model.eval()`` yourself; a module in training mode gets a warning).
    x : the input without batch dimension, e.g. ``C x H x W``.
    target : class index whose output is explained; None takes the predicted class (the argmax of the
        model's scores on ``x``, read from the probe pass, so it costs nothing extra).
    features : ``Features``, a grid size (int or (rows, cols)), or an integer feature map.
    reference : a kind from ``trace_opt.references.REFERENCE_KINDS``, a number, or a tensor of x's shape.
    output : ``"logit"``, ``"prob"`` (softmax) or ``"log_prob"``.
    batch_size : masked inputs per model call (Captum's ``internal_batch_size``).
    device : where the model runs (``"cpu"``, ``"cuda"``, ...); the model must already live there.
    reference_options : passed to ``make_reference`` (``value``, ``sigma``, ``noise_std``, ``seed``).
    """

    def __init__(self, model, x, target: int | None, features=4, reference="zeros", output: str = "logit",
                 batch_size: int = 64, device="cpu", cache: bool = True, **reference_options):
        check_choice("output", output, OUTPUTS)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.device = torch.device(device)
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        if x.dim() < 1 or x.numel() < 2:
            raise ValueError(f"x must be one input without batch dimension (e.g. C x H x W); got shape {tuple(x.shape)}")
        if not torch.is_floating_point(x):
            x = x.float()
        self.x = x.detach().to(self.device)
        self.features = as_features(features, tuple(self.x.shape))
        super().__init__(self.features.t, cache=cache)
        self.reference = make_reference(reference, self.x, self.features, **reference_options).to(self.device)
        self.model = model
        self.output = output
        self._transform = _output_transform(output)
        if isinstance(model, torch.nn.Module) and model.training:
            warnings.warn("model is in training mode (dropout/batch-norm make D(S) random); call model.eval()",
                          stacklevel=2)
        ids = np.broadcast_to(self.features.ids, tuple(self.x.shape))
        self._ids = torch.as_tensor(np.array(ids), device=self.device)
        # One forward pass on the unmodified input checks shapes and the target, and is D({}).
        with torch.inference_mode():
            try:
                z = model(self.x.unsqueeze(0))
            except Exception as exc:  # a shape mismatch inside the model
                raise ValueError(f"x of shape {tuple(self.x.shape)} could not be passed to the model as a batch "
                                 f"of one: {exc}") from exc
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[0] != 1:
            raise ValueError(f"the model must return scores of shape (batch, n_classes); got "
                             f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
        self.n_classes = int(z.shape[1])
        if target is None:
            target = int(z[0].argmax())
        self.target = _check_target(target, self.n_classes, "class index")
        self.batches += 1
        v0 = self._transform(z.double())[:, self.target].double().cpu().numpy()
        self.forward_passes += 1
        check_finite_values(v0)
        if self.use_cache:
            self._cache[self.keys_of(np.zeros((1, self.t), dtype=bool))[0]] = float(v0[0])
        self.requests += 1

    def masked_inputs(self, masks: np.ndarray) -> torch.Tensor:
        """The inputs with each row's features deleted, built in one vectorised op: (B, *x.shape)."""
        m = torch.as_tensor(np.asarray(masks, dtype=bool), device=self.device)
        pix = m[:, self._ids]  # (B, *x.shape): True where the element's feature is deleted
        return torch.where(pix, self.reference.unsqueeze(0), self.x.unsqueeze(0))

    def _forward(self, masks: np.ndarray) -> np.ndarray:
        out = np.empty(len(masks), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(masks), self.batch_size):
                chunk = masks[start:start + self.batch_size]
                z = self.model(self.masked_inputs(chunk))
                self.batches += 1
                vals = self._transform(z.double())[:, self.target].double().cpu().numpy()
                _check_batch(vals, len(chunk), "the model")
                out[start:start + len(chunk)] = vals
                self._rows_done += len(chunk)
        return out


class CallableOracle(Oracle):
    """D(S) from any black-box callable: numpy batch ``(B, *x.shape)`` in, scores out.

    ``fn`` returns ``(B,)`` scores, or ``(B, n_classes)`` from which column ``target`` is taken
    (e.g. a scikit-learn model's ``predict_proba``). ``reference`` is as for ``ModelOracle``.
    """

    def __init__(self, fn: Callable, x, features=None, reference="zeros", target: int | None = None,
                 batch_size: int = 256, cache: bool = True, **reference_options):
        if not callable(fn):
            raise ValueError(f"fn must be callable (numpy batch -> scores); got {type(fn).__name__}")
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.fn = fn
        xa = np.asarray(x, dtype=np.float64)
        if xa.ndim < 1 or xa.size < 2:
            raise ValueError(f"x must be one input without batch dimension; got shape {xa.shape}")
        self.x = xa
        if features is None:
            features = np.arange(xa.shape[-1]) if xa.ndim == 1 else 4
        self.features = as_features(features, xa.shape)
        super().__init__(self.features.t, cache=cache)
        ref = make_reference(reference, torch.as_tensor(xa), self.features, **reference_options)
        self.reference = ref.numpy().astype(np.float64)
        self._ids = np.broadcast_to(self.features.ids, xa.shape)
        probe = np.asarray(fn(xa[None]))
        if probe.ndim == 1 and probe.shape[0] == 1:
            self.n_classes = None
            if target is not None:
                raise ValueError("target must be None when fn returns one score per input")
        elif probe.ndim == 2 and probe.shape[0] == 1:
            self.n_classes = probe.shape[1]
            target = _check_target(target, self.n_classes, "column")
        else:
            raise ValueError(f"fn must return shape (B,) or (B, n_classes) for a batch of B inputs; got {probe.shape} for B=1")
        self.target = None if target is None else int(target)
        self.batches += 1
        self.forward_passes += 1
        self.requests += 1
        v0 = self._select(probe)
        check_finite_values(v0)
        if self.use_cache:
            self._cache[self.keys_of(np.zeros((1, self.t), dtype=bool))[0]] = float(v0[0])

    def _select(self, scores) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        return s if self.target is None else s[:, self.target]

    def masked_inputs(self, masks: np.ndarray) -> np.ndarray:
        pix = np.asarray(masks, dtype=bool)[:, self._ids]
        return np.where(pix, self.reference[None], self.x[None])

    def _forward(self, masks: np.ndarray) -> np.ndarray:
        out = np.empty(len(masks), dtype=np.float64)
        for start in range(0, len(masks), self.batch_size):
            chunk = masks[start:start + self.batch_size]
            vals = self._select(self.fn(self.masked_inputs(chunk))).reshape(-1)
            self.batches += 1
            _check_batch(vals, len(chunk), "fn")
            out[start:start + len(chunk)] = vals
            self._rows_done += len(chunk)
        return out


class SetFunctionOracle(Oracle):
    """D(S) from a plain Python set function on bool masks: ``fn(masks (B x t)) -> (B,) values``.

    For tests, synthetic problems and precomputed values; counted and cached like a model.
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], t: int, cache: bool = True):
        if not callable(fn):
            raise ValueError(f"fn must be callable (bool masks (B, t) -> values (B,)); got {type(fn).__name__}")
        super().__init__(check_positive_int("t", t, minimum=2), cache=cache)
        self.fn = fn

    def _forward(self, masks: np.ndarray) -> np.ndarray:
        vals = np.asarray(self.fn(masks), dtype=np.float64).reshape(-1)
        self.batches += 1  # a completed call, as for models
        return vals
