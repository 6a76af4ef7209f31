"""Oracles: D(S) for batches of feature sets, with an exact cache, counters and limits (no torch).

A set S is a row of a bool matrix ``masks`` (B x t): ``masks[b, i]`` is True when feature i is
deleted (replaced by the reference), or a uint64 bitmask (t <= 64). ``Oracle`` is the base class (cache,
counters, limits); ``SetFunctionOracle`` wraps a plain set function; the torch layer's model oracles
(``trace_opt.models.oracles``) and the instances' ``TableOracle`` derive from it.

Counters (plain attributes): ``forward_passes`` = unique sets the function or model evaluated,
``batches`` = calls, ``cache_hits`` = requested rows served from the cache, ``requests`` = rows requested
in total. A request refused by a limit (``BudgetExhausted``) counts nothing. A request that fails
part-way (Ctrl-C, an exception or a non-finite value) serves nothing: it counts only the sets that were
evaluated, as requests and forward passes, and caches those of the chunks that completed (asking again
runs only the rest). So with the cache on ``requests == cache_hits + forward_passes`` always holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from trace_opt.core.budget import Limits
from trace_opt.core.kernels import KeyTable
from trace_opt.core.validation import check_finite_values, check_positive_int


class Oracle:
    """Base class: cache by exact set key, counters, limits. Subclasses implement ``_forward``
    (values of a bool mask matrix, one model call); one that sets ``_keyed_forward`` must also implement
    ``_forward_keys`` (the same from uint64 keys, used instead of ``_forward`` while the flag is True)."""

    t: int
    #: sets per ``_forward`` call (None: a whole request in one call)
    batch_size: int | None = None
    #: True when ``_forward_keys`` builds inputs from uint64 keys (no bool masks needed)
    _keyed_forward = False
    #: who produced the values, for error messages
    _source = "the set function"
    #: called with the number of sets after each completed model call (a progress bar; None: nothing)
    on_passes: Callable[[int], None] | None = None

    def __init__(self, t: int, cache: bool = True):
        if t < 2:
            raise ValueError(f"features define t={t}; TRACE needs t >= 2 features")
        self.t = int(t)
        self.use_cache = bool(cache)
        # exact cache: a numba hash table on uint64 keys (t <= 64), else a dict on packed bytes
        self._cache: KeyTable | dict[Any, float] = KeyTable() if t <= 64 else {}
        self.forward_passes = 0
        self.batches = 0
        self.cache_hits = 0
        self.requests = 0
        self.forward_seconds = 0.0
        #: the limits requests are checked against (none by default; see ``limited``)
        self.limits = Limits()
        self._bits = (np.uint64(1) << np.arange(min(t, 64), dtype=np.uint64)) if t <= 64 else None

    # ----------------------------------------------------------------- keys
    @property
    def exact_uint64_keys(self) -> bool:
        """True when sets are keyed by a uint64 bitmask (t <= 64)."""
        return self.t <= 64

    def keys_of(self, masks: np.ndarray) -> np.ndarray | list[bytes]:
        """Exact cache keys of the rows of ``masks``: uint64 bitmasks (t <= 64) or packed bytes."""
        if self._bits is not None:
            return (masks.astype(np.uint64) * self._bits).sum(axis=1, dtype=np.uint64)
        packed = np.packbits(masks, axis=1)
        return [row.tobytes() for row in packed]

    def masks_of_keys(self, keys: ArrayLike) -> np.ndarray:
        """Bool masks (B x t) of uint64 keys (t <= 64 only)."""
        keys = np.asarray(keys, dtype=np.uint64)
        return ((keys[:, None] >> np.arange(self.t, dtype=np.uint64)) & np.uint64(1)).astype(bool)

    # ------------------------------------------------------------ evaluate
    def evaluate(self, masks: ArrayLike) -> np.ndarray:
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

    def evaluate_keys(self, keys: ArrayLike) -> np.ndarray:
        """D(S) for sets given as uint64 bitmasks (bit i set = feature i deleted); t <= 64 only."""
        if self._bits is None:
            raise ValueError("evaluate_keys needs t <= 64; use evaluate(masks) for larger t")
        k = np.asarray(keys, dtype=np.uint64).ravel()
        return self._evaluate(k, lambda rows: self.masks_of_keys(k[rows]))

    def _evaluate(self, keys, masks_for_rows: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        # counters move only once the request is accepted: a refused request changes nothing
        n = len(keys)
        if not self.use_cache:
            self._check_limits(n)
            out = self._run(keys, masks_for_rows, np.arange(n))
            self.requests += n
            return out
        out = np.empty(n, dtype=np.float64)
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

            def keep(vals):  # cache the rows computed (all of them, or the completed chunks)
                for r, v in zip(missing_rows, vals.tolist()):
                    cache[key_list[r]] = v

            vals = self._run(keys, masks_for_rows, np.asarray(missing_rows), keep)
            keep(vals)
            out[missing_rows] = vals
        self.requests += n
        self.cache_hits += n - len(missing_rows)
        for r, src in dup_rows:
            out[r] = out[src]
        return out

    def _evaluate_table(self, keys: np.ndarray, masks_for_rows, out: np.ndarray) -> np.ndarray:
        """The cached path of ``_evaluate`` with the numba table (same rows, order and counters).

        ``find`` leaves the pending request in the table's scratch buffers and ``fill`` completes it; a
        request started in between (a re-entrant ``evaluate`` from inside the model) makes that ``fill``
        raise instead of writing wrong values.
        """
        table = cast(KeyTable, self._cache)  # the caller checked: t <= 64
        keys = np.ascontiguousarray(keys)
        missing = table.find(keys, out)
        n, n_new = len(keys), len(missing)
        if n_new:
            self._check_limits(n_new)
            vals = self._run(keys, masks_for_rows, missing, lambda done: table.fill(keys, out, done))
            table.fill(keys, out, vals)
        self.requests += n
        self.cache_hits += n - n_new
        return out

    def _record_probe(self, values) -> None:
        """Count the pass on the unmodified input that a model oracle makes when it is built (one call,
        one forward pass, one request, outside any budget) and cache its value D({}); a non-finite value
        is refused."""
        self.batches += 1
        self.forward_passes += 1
        self.requests += 1
        v0 = np.asarray(values, dtype=np.float64).reshape(-1)[:1]
        check_finite_values(v0)
        if self.use_cache:
            self._cache[self.keys_of(np.zeros((1, self.t), dtype=bool))[0]] = float(v0[0])

    def _check_limits(self, n_new: int) -> None:
        self.limits.check(self.forward_passes, n_new)

    @contextmanager
    def limited(self, limits: Limits) -> Iterator[Limits]:
        """Enforce ``limits`` (tightened with the current ones) inside the block, then restore the
        previous limits, also on an exception: an oracle keeps no limit of a finished solve."""
        saved = self.limits
        self.limits = saved.tightened(limits)
        try:
            yield self.limits
        finally:
            self.limits = saved

    def _run(
        self, keys, masks_for_rows, rows: np.ndarray, keep: Callable[[np.ndarray], None] | None = None
    ) -> np.ndarray:
        """Values of the sets ``rows`` of a request, ``batch_size`` sets per ``_forward`` call.

        Counts the forward passes. If a call fails (Ctrl-C, an exception, a bad or non-finite answer), the
        inputs the model evaluated are counted as requests and forward passes, ``keep`` receives the
        values of the chunks that completed (in row order), and the exception propagates.
        """
        forward: Callable[[np.ndarray], np.ndarray]
        if self._keyed_forward and isinstance(keys, np.ndarray):
            batch, forward = keys[rows], self._forward_keys
        else:
            batch, forward = masks_for_rows(rows), self._forward
        n = len(batch)
        step = self.batch_size or n
        out = np.empty(n, dtype=np.float64)
        ran = valid = 0  # sets the model evaluated / whose values passed the checks
        start = time.perf_counter()
        try:
            for a in range(0, n, step):
                part = batch[a : a + step]
                vals = np.asarray(forward(part)).reshape(-1)
                ran = a + len(part)
                _check_batch(vals, len(part), self._source)
                chunk = out[a:ran]
                chunk[:] = vals
                if not np.isfinite(chunk.sum()):  # cheap test; the full scan only on failure
                    check_finite_values(chunk)
                valid = ran
                if self.on_passes is not None:
                    self.on_passes(len(part))
        except BaseException:
            self.requests += ran
            if keep is not None and valid:
                keep(out[:valid])
            raise
        finally:
            self.forward_passes += ran
            self.forward_seconds += time.perf_counter() - start
        return out

    def _forward(self, masks: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """The values of the rows of a bool mask matrix (B x t), one model call: what a subclass implements."""
        raise NotImplementedError

    def _forward_keys(self, keys: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """``_forward`` from uint64 keys: implemented by a subclass that sets ``_keyed_forward``."""
        raise NotImplementedError

    # ------------------------------------------------------------- helpers
    def clear_cache(self) -> None:
        self._cache.clear()

    def new_sets(self, masks: ArrayLike) -> np.ndarray:
        """For each row of ``masks`` (B x t), True when evaluating the rows would cost a forward pass for it:
        its set is not cached and no earlier row asks for the same set. Counts nothing (a budget-aware search
        sizes its last batch with it)."""
        m = np.asarray(masks, dtype=bool)
        if m.ndim != 2 or m.shape[1] != self.t:
            raise ValueError(f"masks must be a bool matrix of shape (B, {self.t}); got shape {m.shape}")
        return self._new_keys(self.keys_of(m))

    def _new_keys(self, keys) -> np.ndarray:
        """``new_sets`` from the rows' cache keys (a subclass with its own cache overrides it)."""
        new = np.zeros(len(keys), dtype=bool)
        if not self.use_cache:
            new[:] = True
        elif isinstance(self._cache, KeyTable):
            new[self._cache.lookup(keys)[1]] = True
        else:
            seen = set()
            for r, key in enumerate(keys):
                if key not in self._cache and key not in seen:
                    new[r] = True
                    seen.add(key)
        return new

    def preload(self, keys: ArrayLike, values: ArrayLike) -> None:
        """Put known values of D into the cache (uint64 keys, t <= 64), e.g. a complete table computed once
        and saved as an instance: later requests for these sets are cache hits. Counts nothing; a key already
        cached takes the new value."""
        if not self.use_cache:
            raise ValueError("preload needs the oracle's cache (cache=True)")
        if self._bits is None:
            raise ValueError(f"preload needs t <= 64 (uint64 keys); this oracle has t={self.t}")
        k = np.ascontiguousarray(np.asarray(keys, dtype=np.uint64).ravel())
        v = np.ascontiguousarray(np.asarray(values, dtype=np.float64).ravel())
        if k.shape != v.shape:
            raise ValueError(f"preload: {len(k)} keys but {len(v)} values")
        if len(k) and int(k.max()) >> self.t:
            raise ValueError(f"preload: a key has a bit at or above t={self.t}")
        check_finite_values(v)
        cast(KeyTable, self._cache).insert(k, v)  # t <= 64: the numba table

    def counters(self) -> dict[str, Any]:
        """Counters as a plain dict (for results and reports)."""
        return {
            "forward_passes": self.forward_passes,
            "batches": self.batches,
            "cache_hits": self.cache_hits,
            "requests": self.requests,
            "cache_size": len(self._cache),
            "forward_seconds": self.forward_seconds,
        }

    @property
    def value_full_input(self) -> float:
        """D({}) = f(x), the model's value on the unmodified input."""
        return float(self.evaluate(np.zeros(self.t, dtype=bool)))


def _check_batch(values: np.ndarray, n: int, who: str) -> None:
    """Refuse a batch answer with the wrong number of scores (it would broadcast silently into D)."""
    if values.shape != (n,):
        raise ValueError(
            f"{who} returned {values.size} score(s) for a batch of {n} input(s); expected one score per input"
        )


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
