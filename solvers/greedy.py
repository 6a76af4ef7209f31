"""Greedy construction of a trajectory, one oracle batch per step."""
from __future__ import annotations

import numpy as np

from trace_opt.core.validation import check_choice, check_positive_int
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


#: candidates a lazy greedy step scores (``lazy_greedy_order``): chosen on EfficientNet-Lite0 at t = 49
LAZY_CANDIDATES = 8


def lazy_greedy_cost(t: int, objective, candidates: int = LAZY_CANDIDATES) -> int:
    """Forward passes ``lazy_greedy_order`` needs at most (no cache hit): t sets at the first step, then
    ``min(candidates, t - k)`` at step k, each with its complement for ``le-mo`` (852 at t = 49, m = 8)."""
    sets = t + sum(min(candidates, t - k) for k in range(1, t - 1))
    return 2 * sets if objective == "le-mo" else sets


def lazy_greedy_order(problem: TraceProblem, candidates: int = LAZY_CANDIDATES, run: Run | None = None
                      ) -> np.ndarray:
    """Greedy LeRF construction on the objective (as ``greedy_order(problem, "lerf")``) that scores only the
    ``candidates`` most promising features at each step after the first.

    Step 0 scores every feature, ``c({i})``. Every score leaves a (stale) gain ``c(P_j + {i}) - c(P_j)`` for
    the features it scored at step j; step k scores the ``candidates`` remaining features of largest stale
    gain (ties to the lower index) at ``P_k`` and appends the best of them (ties to the lower index). On an
    additive objective the gains never change, so it returns greedy's order; on a real network the gains of
    the features that were not rescored drift, and it trades a little of greedy's value for about a third
    of its passes (EfficientNet-Lite0, chelsea, t = 49, m = 8: 364.5 at 805 passes against greedy's 368.0 at
    2,445; bench/imagenet_search.py). With a ``run``, a stop keeps the order so far, the rest by stale gain.
    """
    t = problem.t
    m = check_positive_int("candidates", candidates)
    deleted = np.zeros(t, dtype=bool)
    placed: list[int] = []
    gain = np.zeros(t, dtype=np.float64)
    c_here = float(problem.c_values(np.zeros((1, t), dtype=bool))[0])

    def completed() -> np.ndarray:  # the order so far, then the rest by stale gain (largest first)
        rest = np.flatnonzero(~deleted)
        return np.array(placed + rest[np.lexsort((rest, -gain[rest]))].tolist(), dtype=np.int64)

    for step in range(t - 1):
        if run is not None:
            run.fallback(completed())
        remaining = np.flatnonzero(~deleted)
        cand = remaining if step == 0 else remaining[np.lexsort((remaining, -gain[remaining]))][:m]
        cand = np.sort(cand)  # ties among the scored go to the lower index, as in greedy
        masks = np.repeat(deleted[None, :], len(cand), axis=0)
        masks[np.arange(len(cand)), cand] = True
        values = problem.c_values(masks)
        gain[cand] = values - c_here
        best = int(np.argmax(values))
        choice = int(cand[best])
        deleted[choice] = True
        placed.append(choice)
        c_here = float(values[best])
    placed.append(int(np.flatnonzero(~deleted)[0]))
    sigma = np.array(placed, dtype=np.int64)
    if run is not None:
        run.fallback(sigma)
    return sigma
