"""Beam search over the subset lattice (greedy is width 1): one oracle batch per level."""

from __future__ import annotations

import numpy as np

from trace_opt.core.validation import check_choice, check_positive_int

from ._common import POLISH_SHARE, Polishing, check_polish, passes_left
from .base import Solver, _Stop, register
from .greedy import _complete


@register("beam")
class BeamSearch(Polishing, Solver):
    """Keep the best ``width`` partial trajectories by partial chain score, level by level.

    ``lerf`` builds sigma from the front: a state is a prefix set P_k with the best order found for
    it and its partial score ``c(P_0) + ... + c(P_k)``; each level adds one feature to every state
    (all children scored in one batch of ``problem.c_values``). Children reaching the same set are
    merged, keeping the better order (by the DP principle only the best order of a set can lead to an
    optimal trajectory), so the beam holds ``width`` distinct sets; with ``width >= C(t, t/2)`` it is the
    exact DP. ``morf`` builds from the back symmetrically (states are the sets P_k, k = t..0).
    Ties go to the lower set bitmask. Width 1 with ``lerf`` gives the greedy LeRF order.

    Parameters
    ----------
    width : B, states kept per level.
    direction : ``"lerf"`` or ``"morf"``.
    polish_window : if set, finish with exact window moves of this width; the beam then runs on
        ``1 - polish_share`` of every limit of the solve and polishing gets the rest
        (``solvers.window.Polishing``).
    polish_share : share of each limit (forward passes, seconds, iterations) kept for polishing.

    Cost: at most B (t - k) sets at level k (twice for ``le-mo``), about B t^2 / 2 in total, minus cache hits.
    When the budget ends inside a level, only the children of the best parents that fit are scored and the
    beam goes on narrower (``info["narrowed_at_level"]``, ``Result.stopped == "budget"``); it stops when not even
    the best state's children fit.
    """

    def __init__(
        self,
        width: int = 16,
        direction: str = "lerf",
        polish_window: int | None = None,
        polish_share: float = POLISH_SHARE,
    ):
        self.width = check_positive_int("width", width)
        self.direction = check_choice("direction", direction, ("lerf", "morf"))
        self.polish_window, self.polish_share = check_polish(polish_window, polish_share)

    def _progress_total(self, problem):
        return problem.t

    def _main(self, problem, run):
        t = problem.t
        lerf = self.direction == "lerf"
        # state: bool mask of the current prefix set, its placed features in order, partial score
        start = np.zeros(t, dtype=bool) if lerf else np.ones(t, dtype=bool)
        c0 = float(problem.c_values(start[None, :])[0])
        masks = start[None, :]
        orders = np.zeros((1, 0), dtype=np.int64)  # lerf: sigma[:k]; morf: sigma[t-k:]
        partial = np.array([c0])
        per_set = len(problem.objective.request_masks(start[None, :]))  # oracle sets per c value (2 for le-mo)
        for level in range(t):
            run.tick()
            if level == 0:  # fallback before any value is known: the index order
                run.fallback(self._complete(orders[0], t, lerf))
            parent, feat = np.nonzero(~masks if lerf else masks)
            child = masks[parent].copy()
            child[np.arange(len(parent)), feat] = lerf
            keys = child.astype(np.int64) @ (np.int64(1) << np.arange(t, dtype=np.int64)) if t < 63 else None
            if keys is None:  # exact keys for any t: bytes of the packed mask
                keys = np.array([row.tobytes() for row in np.packbits(child, axis=1)])
            uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            fit = _parents_that_fit(
                problem, child[first], parent[first], len(masks), per_set, passes_left(problem.oracle)
            )
            if fit < len(masks):  # the budget ends inside this level: the best parents' children only (narrower)
                sel = parent < fit
                parent, feat, child, keys = parent[sel], feat[sel], child[sel], keys[sel]
                uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
                run.info["narrowed_at_level"] = run.info.get("narrowed_at_level", level)
            vals = problem.c_values(child[first])  # one batch per level
            cand = partial[parent] + vals[inverse.reshape(-1)]
            # best candidate per distinct set, ties to the first (lowest parent index, then feature)
            order = np.lexsort((np.arange(len(cand)), -cand, inverse.reshape(-1)))
            inv_sorted = inverse.reshape(-1)[order]
            best_per_set = order[np.r_[True, inv_sorted[1:] != inv_sorted[:-1]]]
            # keep the top `width` sets by score, ties to the lower set key
            set_idx = inverse.reshape(-1)[best_per_set]
            rank = np.lexsort((set_idx, -cand[best_per_set]))
            keep = best_per_set[rank[: self.width]]
            masks = child[keep]
            new_feat = feat[keep][:, None]
            orders = (
                np.concatenate([orders[parent[keep]], new_feat], axis=1)
                if lerf
                else np.concatenate([new_feat, orders[parent[keep]]], axis=1)
            )
            partial = cand[keep]
            # a stop now keeps the best state, the rest ranked by its parent's other children (a look-ahead)
            sib = parent == parent[keep[0]]
            placed = orders[0].tolist() if lerf else orders[0][::-1].tolist()
            run.fallback(_complete(placed, t, self.direction, feat[sib], vals[inverse.reshape(-1)][sib]))
        sigma = orders[0]
        run.report(sigma, problem.score(sigma))  # all sets cached: re-summed in the problem's order
        if "narrowed_at_level" in run.info:
            raise _Stop("budget")  # finished, but the budget narrowed the beam: Result.stopped says so

    @staticmethod
    def _complete(placed: np.ndarray, t: int, lerf: bool) -> np.ndarray:
        used = np.zeros(t, dtype=bool)
        used[placed] = True
        rest = np.flatnonzero(~used)
        return np.concatenate([placed, rest] if lerf else [rest, placed]).astype(np.int64)


def _parents_that_fit(
    problem, sets: np.ndarray, first_parent: np.ndarray, n_parents: int, per_set: int, left: float
) -> int:
    """How many of the level's parents (best first) can have all their new children ``sets`` scored with ``left``
    passes; each distinct child counts for the parent that reaches it first. All when ``per_set`` passes a
    child surely fit; else by the passes each would really make (``TraceProblem.new_passes``). At least 1: the
    oracle then decides (a stop if it does not fit)."""
    if not np.isfinite(left) or len(sets) * per_set <= left:
        return n_parents
    cost = np.cumsum(np.bincount(first_parent, weights=problem.new_passes(sets), minlength=n_parents))
    return max(1, int(np.searchsorted(cost, left, side="right")))
