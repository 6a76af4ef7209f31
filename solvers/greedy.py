"""Greedy construction of a trajectory, one oracle batch per step."""
from __future__ import annotations

import numpy as np

from trace_opt.core.validation import check_choice
from trace_opt.core.problem import TraceProblem

from .base import Run, Solver, register


def greedy_order(problem: TraceProblem, direction: str = "lerf", run: Run | None = None,
                 count_iterations: bool = True) -> np.ndarray:
    """Greedy trajectory for ``problem``'s objective.

    ``lerf`` builds sigma from the least important end: at step k it appends the feature i that
    maximises ``c(P_k + {i})``. ``morf`` builds from the most important end: it places at position
    t-1-k the feature i maximising ``c(R - {i})`` over the remaining set R. Ties follow the toolkit's
    one rule (DESIGN.md section 4: among equally good features the lower index is the less important):
    ``lerf`` places the lowest tied feature (earliest position), ``morf`` the highest (latest
    position), so both give the stable ascending sort on an additive objective with tied weights, as
    ``rankings.attribution_to_trajectory`` and the exact DP do. Each step scores all remaining features
    in one batch. With a ``run``, a stop keeps the order completed so far, the rest ranked by the last
    step's values (``_complete``), and, if ``count_iterations``, each step is an iteration.
    """
    t = problem.t
    deleted = np.zeros(t, dtype=bool)  # lerf: features placed at the front; morf: at the back
    placed: list[int] = []
    for step in range(t - 1):
        if run is not None:
            if step == 0:
                run.fallback(_complete(placed, t, direction))
            if count_iterations:
                run.tick()
        remaining = np.flatnonzero(~deleted)
        masks = np.repeat(deleted[None, :], len(remaining), axis=0)
        masks[np.arange(len(remaining)), remaining] = True
        if direction == "morf":
            masks = ~masks  # the remaining set minus the candidate
        values = problem.c_values(masks)
        # ties (exact equality): lerf -> the lowest feature, morf -> the highest (see the tie rule above)
        best = int(np.argmax(values)) if direction == "lerf" else len(values) - 1 - int(np.argmax(values[::-1]))
        choice = int(remaining[best])
        deleted[choice] = True
        placed.append(choice)
        if run is not None:  # a stop now keeps this order, the rest ranked by this step's values
            run.fallback(_complete(placed, t, direction, remaining, values))
    placed.append(int(np.flatnonzero(~deleted)[0]))
    sigma = _complete(placed, t, direction)
    if run is not None:
        run.fallback(sigma)  # complete but not yet scored: the best answer if the budget ends now
    return sigma


def _complete(placed: list[int], t: int, direction: str, candidates=None, values=None) -> np.ndarray:
    """The order ``placed`` (lerf: from the front; morf: from the back) completed by the unplaced features:
    by index, or, given the last step's ``values`` of its ``candidates``, in the order greedy would take them
    if those values did not change (a one-step look-ahead, far better than the index order)."""
    used = set(placed)
    if candidates is None:
        rest = [i for i in range(t) if i not in used]
    else:
        keep = np.array([int(i) not in used for i in candidates], dtype=bool)
        cand, vals = np.asarray(candidates)[keep], np.asarray(values, dtype=np.float64)[keep]
        if direction == "lerf":  # next greedy choices first: descending value, ties to the lower index
            rest = cand[np.lexsort((cand, -vals))].tolist()
        else:  # next greedy choices last: ascending value, ties to the higher index last
            rest = cand[np.lexsort((cand, vals))].tolist()
    if direction == "lerf":
        return np.array(placed + rest, dtype=np.int64)
    return np.array(rest + placed[::-1], dtype=np.int64)


@register("greedy")
class Greedy(Solver):
    """Greedy LeRF (``direction="lerf"``) or MoRF (``"morf"``) construction.

    Cost: about t(t+1)/2 sets (twice that for ``le-mo``), minus cache hits.
    """

    def __init__(self, direction: str = "lerf"):
        self.direction = check_choice("direction", direction, ("lerf", "morf"))

    def _progress_total(self, problem):
        return problem.t - 1

    def _search(self, problem, run):
        sigma = greedy_order(problem, self.direction, run)
        run.report(sigma, problem.score(sigma))
