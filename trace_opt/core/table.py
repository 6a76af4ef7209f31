"""Tables of D over all 2^t sets (indexed by bitmask) and the oracle that serves them (no torch).

``TableOracle`` answers like a live model oracle (same counters, cache and limits), so any solver runs
on a frozen problem at memory speed and its optimality gap is exact (``trace_opt.benchmarks.instances``).
``check_table`` validates a table, ``check_table_size`` refuses a t whose table would not fit
(``MAX_T``), ``table_stats`` says which features are inert.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trace_opt.core.oracle import Oracle

#: largest t an instance may have by default (2^24 float64 = 128 MiB per table)
MAX_T = 24


def table_bytes(t: int) -> int:
    """Bytes of one instance table (2^t float64 values)."""
    return (1 << int(t)) * 8


def _fmt_bytes(n: int) -> str:
    if n >= 1 << 60:  # 2^t bytes for a large t: a float would overflow
        return f"about 2^{int(n).bit_length() - 1} bytes"
    size: float = n
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"


def check_table_size(t: int, max_t: int = MAX_T) -> None:
    """Refuse a table for t features above ``max_t``, stating the memory it would need."""
    if t > max_t:
        # the table itself, plus the exact DP (c and V as float64, 1 argmax byte per set)
        need, dp = table_bytes(t), (1 << t) * 17
        count = f"{1 << t:,}" if t <= 64 else f"about 10^{int(t * 0.30103)}"
        raise ValueError(
            f"t={t} is too large for an instance table: 2^{t} = {count} values need "
            f"{_fmt_bytes(need)} of memory and disk (plus {_fmt_bytes(dp)} for the exact DP); "
            f"the limit is max_t={max_t} ({_fmt_bytes(table_bytes(max_t))})"
        )


def check_table(values: ArrayLike, where: str = "values") -> tuple[np.ndarray, int]:
    """A 1-D float64 array of length 2^t (t >= 2) of finite real numbers, and its t; a ValueError naming
    ``where`` otherwise."""
    v = np.asarray(values)
    if v.ndim != 1 or v.shape[0] < 4 or (v.shape[0] & (v.shape[0] - 1)) != 0:
        raise ValueError(f"{where} must be a 1-D array of length 2^t (t >= 2) indexed by bitmask; got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v):
        raise ValueError(f"{where} must be real numbers; got dtype {v.dtype}")
    v = np.ascontiguousarray(v, dtype="<f8")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{where} contains NaN or infinite values; D(S) must be finite for every set")
    return v, v.shape[0].bit_length() - 1


class TableOracle(Oracle):
    """D(S) read from a precomputed table of all 2^t sets; no model, no torch.

    Counters mean what they mean for a live model: ``forward_passes`` = distinct sets served for the
    first time (what a model oracle would have run), ``cache_hits`` = rows served again, so budgets
    and solver results are identical to a live run on the same values. The cache is a bitmap over
    the 2^t sets (vectorised). Like a model oracle, which runs ``f(x) = D({})`` when it is built, a
    new table oracle has served D({}) once (1 forward pass, cached). ``output`` is the live problem's output kind
    (``"logit"``, ``"prob"``, ...); solvers read it for defaults such as SA's initial temperature.
    """

    def __init__(self, values: ArrayLike, cache: bool = True, output: str = "logit", max_t: int = MAX_T) -> None:
        v, t = check_table(values)
        check_table_size(t, max_t)
        super().__init__(t, cache=cache)
        self.values = v
        self.output = str(output)
        self._seen = np.zeros(len(v), dtype=bool) if cache else None
        self._prime()

    def _prime(self) -> None:
        # A model oracle runs f(x) = D({}) once when it is built (to check shapes and the target) and
        # caches it; mirror that so counters and budgets match a live run exactly.
        self.forward_passes += 1
        self.batches += 1
        self.requests += 1
        if self._seen is not None:
            self._seen[0] = True

    def _evaluate(self, keys, masks_for_rows) -> np.ndarray:
        # counters move only once the request is accepted (as in Oracle._evaluate)
        idx = np.asarray(keys, dtype=np.uint64).astype(np.int64)
        n = len(idx)
        if self._seen is None:
            self._check_limits(n)
            self.requests += n
            self.forward_passes += n
            self.batches += 1
            return self.values[idx]
        new = np.unique(idx[~self._seen[idx]])
        if len(new):
            self._check_limits(len(new))
        self.requests += n
        self.cache_hits += n - len(new)
        if len(new):
            self._seen[new] = True
            self.forward_passes += len(new)
            self.batches += 1
        return self.values[idx]

    def _new_keys(self, keys) -> np.ndarray:
        idx = np.asarray(keys, dtype=np.uint64).astype(np.int64)
        if self._seen is None:
            return np.ones(len(idx), dtype=bool)
        first = np.zeros(len(idx), dtype=bool)
        first[np.unique(idx, return_index=True)[1]] = True
        return first & ~self._seen[idx]

    def _forward(self, masks: np.ndarray) -> np.ndarray:  # used only through _evaluate's keys
        keys = np.asarray(self.keys_of(np.asarray(masks, dtype=bool)), dtype=np.uint64)  # t <= MAX_T: uint64 keys
        return self.values[keys.astype(np.int64)]

    def clear_cache(self) -> None:
        if self._seen is not None:
            self._seen[:] = False

    def counters(self) -> dict[str, Any]:
        out = super().counters()
        out["cache_size"] = int(self._seen.sum()) if self._seen is not None else 0
        return out


def table_stats(values: ArrayLike, rtol: float = 1e-9) -> dict[str, Any]:
    """How much of the table is informative: ``distinct_values`` (exactly distinct D values),
    ``effective_t`` (features i with ``D(S | {i}) != D(S)`` for some S, compared with a relative
    tolerance ``rtol * max(1, max |D|)``, so float noise of a batched model does not count) and
    ``inert_features`` (the other features, which a solver may place anywhere). O(t 2^t), vectorised."""
    v, t = check_table(values)
    tol = rtol * max(1.0, float(np.max(np.abs(v))))
    inert = []
    for i in range(t):
        pairs = v.reshape(-1, 2, 1 << i)  # [:, 0, :] = sets without i, [:, 1, :] = the same sets with i
        if np.all(np.abs(pairs[:, 1, :] - pairs[:, 0, :]) <= tol):
            inert.append(i)
    return {"distinct_values": int(np.unique(v).size), "effective_t": t - len(inert), "inert_features": inert}
