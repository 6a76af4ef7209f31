"""A synthetic set function evaluated by numba, for measuring pure solver speed (no model).

Features are cut into chunks of ``width`` consecutive indices; with ``code_c`` the bitmask of S
inside chunk c, ``D(S) = sum_c A[c, code_c] + sum_c U[c, code_c] * V[c, code_(c+1)]``:
``A[c, code] = sum of per-feature weights + interaction * noise`` (arbitrary interactions inside a
chunk), ``U``, ``V`` couple neighbouring chunks. O(t / width) per set, exact and deterministic.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from trace_opt.core.kernels import synthetic_values
from trace_opt.core.oracle import SetFunctionOracle
from trace_opt.core.validation import check_positive_float, check_positive_int


class SyntheticSetFunction:
    """Random additive-with-interactions set function on t <= 64 features (seeded).

    Call it on bool masks (B x t) for ``SetFunctionOracle``; ``values(keys)`` takes uint64 bitmasks.
    """

    def __init__(self, t: int = 49, seed: int = 0, width: int = 7, interaction: float = 0.5):
        self.t = check_positive_int("t", t, minimum=2)
        if self.t > 64:
            raise ValueError(f"t={t} is not valid; the synthetic set function keys sets by uint64 (t <= 64)")
        self.width = check_positive_int("width", width)
        if self.width > 16:
            raise ValueError(f"width={width} is not valid; expected 1..16 (tables have 2^width rows)")
        self.interaction = check_positive_float("interaction", interaction, allow_zero=True)
        self.seed = seed
        rng = np.random.default_rng(seed)
        n_chunks = -(-self.t // self.width)
        codes = np.arange(1 << self.width)
        bits = (codes[:, None] >> np.arange(self.width)) & 1  # (2^w, w)
        w = rng.normal(size=n_chunks * self.width)
        w[self.t :] = 0.0  # padding features never appear in a set
        self.weights = w[: self.t].copy()
        A = bits @ w.reshape(n_chunks, self.width).T  # (2^w, chunks)
        self.A = np.ascontiguousarray(A.T + self.interaction * rng.normal(size=(n_chunks, 1 << self.width)))
        scale = np.sqrt(self.interaction)
        self.U = np.ascontiguousarray(scale * rng.normal(size=(max(n_chunks - 1, 1), 1 << self.width)))
        self.V = np.ascontiguousarray(scale * rng.normal(size=(max(n_chunks - 1, 1), 1 << self.width)))
        self._bits = np.uint64(1) << np.arange(self.t, dtype=np.uint64)

    def values(self, keys: ArrayLike) -> np.ndarray:
        """D(S) for uint64 bitmasks."""
        return synthetic_values(np.ascontiguousarray(keys, dtype=np.uint64), self.A, self.U, self.V, self.width)

    def __call__(self, masks: ArrayLike) -> np.ndarray:
        """D(S) for the rows of a bool mask matrix (B x t): the set function of ``SetFunctionOracle``."""
        m = np.asarray(masks, dtype=bool).reshape(-1, self.t)
        return self.values((m.astype(np.uint64) * self._bits).sum(axis=1, dtype=np.uint64))

    def oracle(self, cache: bool = True) -> SetFunctionOracle:
        """A counted, cached oracle over this function."""
        return SetFunctionOracle(self, self.t, cache=cache)
