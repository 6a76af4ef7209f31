"""The TRACE problem: objectives as chain sums over prefix sets, curves, and move deltas.

Conventions (DESIGN.md section 2): a trajectory ``sigma`` lists features from least important
(``sigma[0]``) to most important (``sigma[t-1]``). Prefix sets ``P_k = set(sigma[:k])``, k = 0..t.
Every objective is **maximised**: ``score(sigma) = sum_k c(P_k)`` with

* ``le``:    ``c(S) = D(S)``               (score = AUC of the LeRF deletion curve)
* ``mo``:    ``c(S) = -D(all \\ S)``        (score = -AUC of the MoRF deletion curve)
* ``le-mo``: ``c(S) = D(S) - D(all \\ S)``  (score = AUC-Le - AUC-Mo, the paper's default)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trace_opt.core.objective import Objective, get_objective
from trace_opt.core.oracle import Oracle
from trace_opt.core.validation import check_choice, check_trajectory

CURVE_NAMES = ("lerf_deletion", "morf_deletion", "lerf_insertion", "morf_insertion")


def ranks_of(sigma: np.ndarray) -> np.ndarray:
    """``rank[i]`` = position of feature i in ``sigma`` (0 = least important)."""
    r = np.empty_like(sigma)
    r[sigma] = np.arange(len(sigma))
    return r


@dataclass
class Curves:
    """The four deletion-test curves of one trajectory, t+1 points each (k = 0..t), in D's units.

    ``lerf_deletion[k] = D(P_k)``; ``morf_deletion[k] = D(all \\ P_(t-k))`` (k most important deleted);
    ``morf_insertion[k] = D(P_(t-k))`` (only the k most important kept);
    ``lerf_insertion[k] = D(all \\ P_k)`` (only the k least important kept).
    """

    lerf_deletion: np.ndarray
    morf_deletion: np.ndarray
    lerf_insertion: np.ndarray
    morf_insertion: np.ndarray

    @property
    def auc_le(self) -> float:
        """Riemann sum of the LeRF deletion curve (paper's AUC-Le; higher is better)."""
        return float(self.lerf_deletion.sum())

    @property
    def auc_mo(self) -> float:
        """Riemann sum of the MoRF deletion curve (paper's AUC-Mo; lower is better)."""
        return float(self.morf_deletion.sum())

    @property
    def le_mo(self) -> float:
        """AUC-Le minus AUC-Mo (higher is better)."""
        return self.auc_le - self.auc_mo

    def mean(self, curve: str) -> float:
        """Normalised AUC: the mean of a curve's t+1 points."""
        check_choice("curve", curve, CURVE_NAMES)
        return float(getattr(self, curve).mean())

    def to_dict(self) -> dict[str, Any]:
        return {
            "lerf_deletion": self.lerf_deletion.tolist(),
            "morf_deletion": self.morf_deletion.tolist(),
            "lerf_insertion": self.lerf_insertion.tolist(),
            "morf_insertion": self.morf_insertion.tolist(),
            "auc_le": self.auc_le,
            "auc_mo": self.auc_mo,
            "le_mo": self.le_mo,
            "mean_le": self.mean("lerf_deletion"),
            "mean_mo": self.mean("morf_deletion"),
        }


class TraceProblem:
    """Objective ``c`` over an oracle; chain scores, curves and exact move deltas.

    Solvers see only this interface (never torch). All D values go through ``oracle`` in batches.
    """

    #: True when ``c_values`` is the objective's standard rule, so solvers may compute c from set keys in
    #: numba kernels (SA's fast path). A subclass that overrides ``c_values`` gets False unless it sets
    #: ``standard_objective = True`` itself (e.g. an override that only logs or counts).
    standard_objective: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "c_values" in cls.__dict__ and "standard_objective" not in cls.__dict__:
            cls.standard_objective = False

    def __init__(self, oracle: Oracle, objective: str = "le-mo"):
        if not isinstance(oracle, Oracle):
            raise ValueError(f"oracle must be a trace_opt Oracle; got {type(oracle).__name__}")
        self.oracle = oracle
        self.objective: Objective = get_objective(objective)
        self.t = oracle.t

    # ------------------------------------------------------------ objective
    def c_values(self, masks: np.ndarray) -> np.ndarray:
        """c(S) for each row of a bool matrix (B x t), one oracle batch (sets and complements together)."""
        masks = np.asarray(masks, dtype=bool)
        return self.objective.from_values(self.oracle.evaluate(self.objective.request_masks(masks)), len(masks))

    def check_trajectory(self, sigma: ArrayLike, name: str = "trajectory") -> np.ndarray:
        """``sigma`` as an int64 permutation of 0..t-1 (a ValueError naming ``name`` otherwise)."""
        return check_trajectory(sigma, self.t, name)

    @staticmethod
    def prefix_masks(sigma: np.ndarray, ks: ArrayLike) -> np.ndarray:
        """Bool masks of the prefix sets ``P_k`` of ``sigma`` for each k in ``ks``."""
        return ranks_of(sigma)[None, :] < np.asarray(ks)[:, None]

    def chain(self, sigma: ArrayLike) -> np.ndarray:
        """``c(P_k)`` for k = 0..t (t+1 values); ``score = chain.sum()``."""
        sigma = self.check_trajectory(sigma)
        return self.c_values(self.prefix_masks(sigma, np.arange(self.t + 1)))

    def score(self, sigma: ArrayLike) -> float:
        """The objective (to maximise) of one trajectory."""
        return float(self.chain(sigma).sum())

    def scores(self, sigmas: ArrayLike) -> np.ndarray:
        """Scores of many trajectories (M x t) in one oracle batch."""
        masks = self._prefix_masks_of(sigmas)
        return self.c_values(masks).reshape(len(masks) // (self.t + 1), self.t + 1).sum(axis=1)

    def new_passes(self, masks: ArrayLike) -> np.ndarray:
        """Per row of ``masks`` (B x t), the forward passes ``c_values(masks)`` would make for it: its set and/or
        complement not cached yet (a set asked twice counts at its first row). Counts nothing."""
        masks = np.asarray(masks, dtype=bool)
        new = self.oracle.new_sets(self.objective.request_masks(masks))
        return new.reshape(-1, len(masks)).sum(axis=0)

    def new_passes_of_scores(self, sigmas: ArrayLike) -> np.ndarray:
        """Per trajectory (M x t), the forward passes ``scores(sigmas)`` would make for it (as ``new_passes``)."""
        masks = self._prefix_masks_of(sigmas)
        return self.new_passes(masks).reshape(len(masks) // (self.t + 1), self.t + 1).sum(axis=1)

    def _prefix_masks_of(self, sigmas: ArrayLike) -> np.ndarray:
        """The prefix sets P_0..P_t of each trajectory, stacked (M (t + 1) x t); refuses non-permutations."""
        sig = np.asarray(sigmas, dtype=np.int64)
        if sig.ndim != 2 or sig.shape[1] != self.t:
            raise ValueError(f"sigmas must have shape (M, {self.t}); got {sig.shape}")
        bad = np.flatnonzero((np.sort(sig, axis=1) != np.arange(self.t)[None, :]).any(axis=1))
        if len(bad):
            raise ValueError(
                f"sigmas must hold permutations of 0..{self.t - 1} in every row; row(s) {bad[:5].tolist()} are not"
            )
        ranks = np.empty_like(sig)
        np.put_along_axis(ranks, sig, np.arange(self.t)[None, :], axis=1)
        return (ranks[:, None, :] < np.arange(self.t + 1)[None, :, None]).reshape(-1, self.t)

    def to_paper_units(self, score: float) -> float:
        """The score in the paper's sign: AUC-Le (le), AUC-Mo (mo, lower is better), AUC-Le - AUC-Mo (le-mo)."""
        return self.objective.to_paper(score)

    # --------------------------------------------------------------- moves
    def move_deltas(
        self, sigma: np.ndarray, chain: ArrayLike, candidates: ArrayLike, lo: ArrayLike, hi: ArrayLike
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Exact score changes of moves, from the changed prefix sets only (one oracle batch).

        ``candidates[m]`` differs from ``sigma`` only at positions ``lo[m]..hi[m]`` (inclusive), so
        only ``P_k`` with ``lo[m] < k <= hi[m]`` change. ``chain`` holds ``c(P_k)`` of ``sigma``.
        Returns ``(deltas, segments)``: ``segments[m]`` = new ``c(P_k)`` for k = lo[m]+1..hi[m].
        """
        cand = np.asarray(candidates, dtype=np.int64).reshape(-1, self.t)
        lo = np.asarray(lo, dtype=np.int64).reshape(-1)
        hi = np.asarray(hi, dtype=np.int64).reshape(-1)
        sizes = hi - lo
        total = int(sizes.sum())
        if total == 0:
            return np.zeros(len(cand)), [np.empty(0) for _ in range(len(cand))]
        owner = np.repeat(np.arange(len(cand)), sizes)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ks = np.arange(total) - np.repeat(offsets, sizes) + np.repeat(lo + 1, sizes)
        ranks = np.empty_like(cand)
        np.put_along_axis(ranks, cand, np.arange(self.t)[None, :], axis=1)
        masks = ranks[owner] < ks[:, None]
        new_c = self.c_values(masks)
        old_c = np.asarray(chain)[ks]
        deltas = np.bincount(owner, weights=new_c - old_c, minlength=len(cand))
        segments = np.split(new_c, np.cumsum(sizes)[:-1])
        return deltas, segments

    def move_delta(
        self, sigma: np.ndarray, chain: ArrayLike, new_sigma: np.ndarray, lo: int, hi: int
    ) -> tuple[float, np.ndarray]:
        """Single-move form of ``move_deltas``: returns ``(delta, segment)``."""
        d, seg = self.move_deltas(sigma, chain, new_sigma[None, :], [lo], [hi])
        return float(d[0]), seg[0]

    # -------------------------------------------------------------- curves
    def curves(self, sigma: ArrayLike) -> Curves:
        """The four deletion-test curves of ``sigma`` (2(t+1) sets, one oracle batch)."""
        sigma = self.check_trajectory(sigma)
        t = self.t
        pre = self.prefix_masks(sigma, np.arange(t + 1))  # P_0..P_t
        vals = self.oracle.evaluate(np.concatenate([pre, ~pre]))
        d_pre, d_comp = vals[: t + 1], vals[t + 1 :]  # D(P_k), D(all \ P_k)
        return Curves(
            lerf_deletion=d_pre,
            morf_deletion=d_comp[::-1].copy(),
            lerf_insertion=d_comp.copy(),
            morf_insertion=d_pre[::-1].copy(),
        )
