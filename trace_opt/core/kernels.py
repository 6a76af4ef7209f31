"""numba kernels of the problem/oracle bookkeeping (t <= 64: a set is an exact uint64 bitmask).

* prefix keys: ``keys[k]`` = bitmask of ``P_k = set(sigma[:k])``; after a move over positions lo..hi
  only ``keys[lo+1..hi]`` change, recomputed in O(hi - lo) from ``keys[lo]``;
* request keys: the sets an objective needs for a range of prefixes (``le``: S; ``mo``: all \\ S;
  ``le-mo``: S then all \\ S), complements as ``full ^ S``;
* delta accumulation: ``c`` of the changed prefixes from the D values, and the score change;
* an exact set cache: open-addressing hash table (linear probing) from uint64 keys to float64 values;
* masked inputs straight from set keys (a flat copy of x with the deleted features' elements from the
  reference), written into a caller's buffer;
* the synthetic set function of ``trace_opt.core.synthetic``;
* Kendall tau distance between trajectories (Fenwick tree, O(t log t)).

Objective codes: ``OBJ_LE = 0``, ``OBJ_MO = 1``, ``OBJ_LE_MO = 2`` (``Objective.code``): ``request_keys``
and ``chain_from_values`` are the compiled form of ``trace_opt.core.objective.Objective``'s rule.
Kernels are pure functions of arrays; the readable wrappers live with their callers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OBJ_LE, OBJ_MO, OBJ_LE_MO = 0, 1, 2


def full_key(t: int) -> np.uint64:
    """Bitmask of all t features (t <= 64)."""
    return np.uint64(0xFFFFFFFFFFFFFFFF) if t == 64 else np.uint64((1 << t) - 1)


def prefix_bitmasks(sigmas) -> np.ndarray:
    """Bitmasks (int64, for indexing 2^t tables) of the prefix sets ``P_0..P_t`` of a trajectory (shape
    ``(t+1,)``), or of each row of a matrix of trajectories (``(M, t+1)``); t <= 62. The numba form for
    search loops is ``prefix_keys``."""
    s = np.asarray(sigmas, dtype=np.int64)
    bits = np.cumsum(np.left_shift(np.int64(1), s), axis=-1)
    return np.concatenate([np.zeros(s.shape[:-1] + (1,), dtype=np.int64), bits], axis=-1)


# ------------------------------------------------------------------ prefix keys
@njit(cache=True)
def prefix_keys(sigma, out):
    """out[k] = bitmask of P_k for k = 0..t (out has t+1 entries)."""
    key = np.uint64(0)
    out[0] = key
    for p in range(sigma.shape[0]):
        key |= np.uint64(1) << np.uint64(sigma[p])
        out[p + 1] = key
    return out


@njit(cache=True)
def segment_keys(sigma, base, lo, hi, out):
    """Bitmasks of P_k of ``sigma`` for k = lo+1..hi into out[0..hi-lo-1], from base = key of P_lo."""
    key = base
    for p in range(lo, hi):
        key |= np.uint64(1) << np.uint64(sigma[p])
        out[p - lo] = key
    return hi - lo


@njit(cache=True)
def request_keys(seg, n, full, objective, out):
    """The oracle keys an objective needs for the n sets seg[0..n-1]; returns how many were written.

    ``le``: the sets; ``mo``: their complements; ``le-mo``: the sets then their complements.
    """
    if objective == 0:
        for i in range(n):
            out[i] = seg[i]
        return n
    if objective == 1:
        for i in range(n):
            out[i] = full ^ seg[i]
        return n
    for i in range(n):
        out[i] = seg[i]
        out[n + i] = full ^ seg[i]
    return 2 * n


@njit(cache=True)
def chain_from_values(vals, n, objective, out):
    """c(S) for n sets from the D values returned for ``request_keys`` (same layout)."""
    for i in range(n):
        if objective == 0:
            out[i] = vals[i]
        elif objective == 1:
            out[i] = -vals[i]
        else:
            out[i] = vals[i] - vals[n + i]
    return out


@njit(cache=True)
def accumulate_delta(vals, chain, lo, hi, objective, seg_out):
    """Score change of a move over lo..hi: new c(P_k) into seg_out[0..hi-lo-1], returns
    ``sum_k (new c(P_k) - chain[k])`` for k = lo+1..hi, summed in increasing k."""
    n = hi - lo
    chain_from_values(vals, n, objective, seg_out)
    delta = 0.0
    for i in range(n):
        delta += seg_out[i] - chain[lo + 1 + i]
    return delta


@njit(cache=True)
def chain_sum(chain):
    """Sum of the chain in index order (the same rounding in every caller)."""
    s = 0.0
    for k in range(chain.shape[0]):
        s += chain[k]
    return s


# ---------------------------------------------------------------- hash table
@njit(cache=True)
def _slot(key, mask):
    # splitmix64 finaliser: spreads nearby bitmasks over the table
    z = key + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z & mask)


@njit(cache=True)
def table_lookup(tkeys, tvals, tused, keys, out, missing, dup_src, pkeys, prows, pused):
    """Look ``keys`` up in the table (tkeys, tvals, tused; size a power of two).

    Found: the value goes to ``out[r]``. Not found: the first row with that key goes to ``missing``;
    a later row repeating a missing key gets ``dup_src[r]`` = that first row (else -1).
    ``pkeys, prows, pused``: scratch for this request's missing keys, a power of two >= 2 len(keys)
    (at least 16) entries. Returns the number of missing rows.
    """
    mask = np.uint64(tkeys.shape[0] - 1)
    n = keys.shape[0]
    # a small table of this request's missing keys -> first row, to find repeats in O(1)
    size = 16
    while size < 2 * n:
        size *= 2
    pmask = np.uint64(size - 1)
    pused[:size] = False
    n_missing = 0
    for r in range(n):
        key = keys[r]
        dup_src[r] = -1
        s = _slot(key, mask)
        while True:
            if not tused[s]:
                q = _slot(key, pmask)
                while pused[q] and pkeys[q] != key:
                    q = (q + 1) & np.int64(pmask)
                if pused[q]:
                    dup_src[r] = prows[q]
                else:
                    pused[q] = True
                    pkeys[q] = key
                    prows[q] = r
                    missing[n_missing] = r
                    n_missing += 1
                break
            if tkeys[s] == key:
                out[r] = tvals[s]
                break
            s = (s + 1) & np.int64(mask)
    return n_missing


@njit(cache=True)
def _put(tkeys, tvals, tused, mask, key, v):
    """Set key -> v by linear probing; 1 if the key is new, else 0."""
    s = _slot(key, mask)
    while True:
        if not tused[s]:
            tkeys[s] = key
            tvals[s] = v
            tused[s] = True
            return 1
        if tkeys[s] == key:
            tvals[s] = v
            return 0
        s = (s + 1) & np.int64(mask)


@njit(cache=True)
def table_get(tkeys, tvals, tused, key):
    """``(True, value)`` for a cached key, ``(False, 0.0)`` otherwise (no scratch buffers touched)."""
    mask = np.uint64(tkeys.shape[0] - 1)
    s = _slot(key, mask)
    while tused[s]:
        if tkeys[s] == key:
            return True, tvals[s]
        s = (s + 1) & np.int64(mask)
    return False, 0.0


@njit(cache=True)
def table_insert(tkeys, tvals, tused, keys, vals):
    """Insert (or overwrite) keys -> vals; returns how many new keys were added. The caller keeps
    the load factor at most 1/2 (``KeyTable`` grows the table first)."""
    mask = np.uint64(tkeys.shape[0] - 1)
    added = 0
    for r in range(keys.shape[0]):
        added += _put(tkeys, tvals, tused, mask, keys[r], vals[r])
    return added


@njit(cache=True)
def table_fill(tkeys, tvals, tused, keys, missing, n_new, new_vals, out, dup_src):
    """After ``table_lookup``: rows ``missing[:n_new]`` get ``new_vals[:n_new]`` in ``out`` and in the table,
    then every repeated row copies its first row (``dup_src``). Returns how many keys were added.
    The caller keeps the load factor at most 1/2 (``KeyTable`` grows the table first)."""
    mask = np.uint64(tkeys.shape[0] - 1)
    added = 0
    for i in range(n_new):
        r = missing[i]
        out[r] = new_vals[i]
        added += _put(tkeys, tvals, tused, mask, keys[r], new_vals[i])
    for r in range(keys.shape[0]):
        if dup_src[r] >= 0:
            out[r] = out[dup_src[r]]
    return added


@njit(cache=True)
def table_rehash(tkeys, tvals, tused, new_keys, new_vals, new_used):
    """Move every entry of one table into a larger empty one."""
    mask = np.uint64(new_keys.shape[0] - 1)
    for s0 in range(tkeys.shape[0]):
        if tused[s0]:
            key = tkeys[s0]
            s = _slot(key, mask)
            while new_used[s]:
                s = (s + 1) & np.int64(mask)
            new_keys[s] = key
            new_vals[s] = tvals[s0]
            new_used[s] = True


class KeyTable:
    """Exact cache from uint64 set keys to float64 values (open addressing, load factor <= 1/2).

    Dict-like where an oracle needs it: ``len``, ``in``, ``[key]``, ``[key] = v``, ``get``, ``clear``;
    the batch operations run in numba: ``lookup(keys)`` / ``insert(keys, vals)`` (new arrays), and the
    allocation-free pair an oracle uses per request, ``find(keys, out)`` then ``fill(keys, out, vals)``
    (scratch buffers owned by the table, reused by every request: a ``find`` or ``lookup`` between a
    ``find`` and its ``fill`` starts another request, and that ``fill`` is refused; ``get``/``in``/
    ``[key]`` touch no scratch buffer).
    """

    def __init__(self, capacity: int = 1 << 12):
        size = 16
        while size < 2 * capacity:
            size <<= 1
        self._alloc(size)
        self._n = 0
        self._scratch(64)
        self._n_missing = 0
        self._pending: np.ndarray | None = None  # the keys array of the last find, which fill must complete

    def _alloc(self, size: int) -> None:
        self._keys = np.zeros(size, dtype=np.uint64)
        self._vals = np.zeros(size, dtype=np.float64)
        self._used = np.zeros(size, dtype=np.bool_)

    def __len__(self) -> int:
        return self._n

    def _reserve(self, extra: int) -> None:
        size = self._keys.shape[0]
        if 2 * (self._n + extra) <= size:
            return
        while 2 * (self._n + extra) > size:
            size <<= 1
        old = (self._keys, self._vals, self._used)
        self._alloc(size)
        table_rehash(*old, self._keys, self._vals, self._used)

    def _scratch(self, n: int) -> None:
        """Per-request buffers for up to n keys (grown by doubling, never shrunk)."""
        size = 16
        while size < 2 * n:
            size <<= 1
        self._missing = np.empty(size // 2, dtype=np.int64)
        self._dup_src = np.empty(size // 2, dtype=np.int64)
        self._pkeys = np.empty(size, dtype=np.uint64)
        self._prows = np.empty(size, dtype=np.int64)
        self._pused = np.empty(size, dtype=np.bool_)

    def find(self, keys: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Cached values of ``keys`` (uint64, contiguous) into ``out``; returns the rows whose keys are
        missing (first occurrences, in row order): a view of a scratch buffer, valid until the next
        ``find``. ``fill`` completes the request."""
        n = keys.shape[0]
        if n > self._missing.shape[0]:
            self._scratch(n)
        self._n_missing = table_lookup(
            self._keys,
            self._vals,
            self._used,
            keys,
            out,
            self._missing,
            self._dup_src,
            self._pkeys,
            self._prows,
            self._pused,
        )
        self._pending = keys
        return self._missing[: self._n_missing]

    def fill(self, keys: np.ndarray, out: np.ndarray, new_vals: np.ndarray) -> None:
        """Complete the last ``find(keys, out)``: the first ``len(new_vals)`` missing rows get these
        values (in ``out`` and in the table; fewer than all after an interrupted request), and rows
        repeating a missing key copy it."""
        if keys is not self._pending:
            raise ValueError(
                "fill must complete the last find with the same keys array; another find or lookup came in between"
            )
        n_new = new_vals.shape[0]
        if n_new > self._n_missing:
            raise ValueError(f"{n_new} values for {self._n_missing} missing rows")
        self._reserve(n_new)
        self._n += int(
            table_fill(
                self._keys,
                self._vals,
                self._used,
                keys,
                self._missing,
                n_new,
                new_vals,
                out,
                self._dup_src[: keys.shape[0]],
            )
        )

    def lookup(self, keys: np.ndarray):
        """``(values, missing_rows, dup_src)`` as new arrays: values of the cached keys (other entries
        undefined), the rows whose keys are missing (first occurrences, in row order) and, per row, the
        earlier missing row it repeats, or -1."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        out = np.empty(keys.shape[0], dtype=np.float64)
        missing = self.find(keys, out).copy()
        return out, missing, self._dup_src[: keys.shape[0]].copy()

    def insert(self, keys: np.ndarray, vals: np.ndarray) -> None:
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        self._reserve(keys.shape[0])
        self._n += int(
            table_insert(self._keys, self._vals, self._used, keys, np.ascontiguousarray(vals, dtype=np.float64))
        )

    def get(self, key, default=None):
        found, value = table_get(self._keys, self._vals, self._used, np.uint64(key))
        return float(value) if found else default

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key) -> float:
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return v

    def __setitem__(self, key, value) -> None:
        self.insert(np.array([key], dtype=np.uint64), np.array([value], dtype=np.float64))

    def clear(self) -> None:
        self._used[:] = False
        self._n = 0

    def items(self) -> list:
        return list(zip(self._keys[self._used].tolist(), self._vals[self._used].tolist()))


# ----------------------------------------------------------- synthetic set function
@njit(cache=True)
def synthetic_value(key, A, U, V, width):
    """D(S) of the synthetic set function for the bitmask ``key``.

    Features are cut into chunks of ``width`` bits; with ``code_c`` the bits of chunk c,
    ``D(S) = sum_c A[c, code_c] + sum_c U[c, code_c] * V[c, code_(c+1)]``: arbitrary interactions
    inside a chunk, pairwise interactions between neighbouring chunks.
    """
    n_chunks = A.shape[0]
    lowmask = np.uint64((1 << width) - 1)
    prev = np.int64(key & lowmask)
    v = A[0, prev]
    for c in range(1, n_chunks):
        code = np.int64((key >> np.uint64(c * width)) & lowmask)
        v += A[c, code] + U[c - 1, prev] * V[c - 1, code]
        prev = code
    return v


@njit(cache=True)
def synthetic_values(keys, A, U, V, width):
    out = np.empty(keys.shape[0], dtype=np.float64)
    for r in range(keys.shape[0]):
        out[r] = synthetic_value(keys[r], A, U, V, width)
    return out


# ------------------------------------------------------------------ masked inputs
@njit(cache=True)
def masked_inputs_from_keys(keys, n_rows, ids, x, ref, out):
    """``out[r]`` = x with the elements of the features in set ``keys[r]`` taken from ``ref``, for
    r < n_rows (all flat, one row per input). Rows past ``len(keys)`` repeat the last set (padding).

    ``ids[p]``: the feature (0..63) of element p, as uint64. A pure selection of x or ref values, so
    the rows equal ``torch.where(mask[ids], ref, x)`` bit for bit.
    """
    n = keys.shape[0]
    one = np.uint64(1)
    for r in range(n_rows):
        key = keys[min(r, n - 1)]
        for p in range(ids.shape[0]):
            out[r, p] = ref[p] if (key >> ids[p]) & one else x[p]


# ------------------------------------------------------------------- rankings
@njit(cache=True)
def kendall_distance(a, b):
    """Number of pairs of features ordered differently by trajectories a and b (O(t log t))."""
    t = a.shape[0]
    rank_b = np.empty(t, dtype=np.int64)
    for p in range(t):
        rank_b[b[p]] = p
    tree = np.zeros(t + 1, dtype=np.int64)  # Fenwick tree over ranks in b
    inv = 0
    for p in range(t):
        r = rank_b[a[p]] + 1
        # elements already seen (earlier in a) with a larger rank in b
        seen_le = 0
        i = r
        while i > 0:
            seen_le += tree[i]
            i -= i & (-i)
        inv += p - seen_le
        i = r
        while i <= t:
            tree[i] += 1
            i += i & (-i)
    return inv
