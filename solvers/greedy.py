"""Greedy construction of a trajectory, one oracle batch per step."""

from __future__ import annotations

import numpy as np

from trace_opt.core.problem import TraceProblem
from trace_opt.core.validation import check_choice, check_positive_int

from .base import Run, Solver, register


def greedy_order(
    problem: TraceProblem, direction: str = "lerf", run: Run | None = None, count_iterations: bool = True
) -> np.ndarray:
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


#: features a lazy greedy step scores: the ``LAZY_CANDIDATES`` of largest stale gain and the ``LAZY_STALE`` scored
#: longest ago (chosen on EfficientNet-Lite0 at t = 49 on chelsea, coffee, astronaut and rocket; the held-out photos'
#: results are in bench/results/imagenet_search_g7_logit.md)
LAZY_CANDIDATES = 4
LAZY_STALE = 4


def lazy_greedy_cost(t: int, objective, candidates: int = LAZY_CANDIDATES, stale: int = LAZY_STALE) -> int:
    """Forward passes ``lazy_greedy_order`` needs at most (no cache hit): t sets at the first step, then
    ``min(candidates + stale, t - k)`` at step k, each with its complement for ``le-mo`` (808 at t = 49)."""
    sets = t + sum(min(candidates + stale, t - k) for k in range(1, t - 1))
    return 2 * sets if objective == "le-mo" else sets


def lazy_greedy_order(
    problem: TraceProblem,
    candidates: int = LAZY_CANDIDATES,
    stale: int = LAZY_STALE,
    run: Run | None = None,
    direction: str = "lerf",
) -> np.ndarray:
    """Greedy LeRF construction on the objective (as ``greedy_order(problem, "lerf")``) that scores only a few
    features at each step after the first.

    Step 0 scores every feature, ``c({i})``. A feature scored at step j keeps its (stale) gain
    ``c(P_j + {i}) - c(P_j)``. Step k scores, at ``P_k``, the ``candidates`` remaining features of largest stale
    gain and the ``stale`` others scored longest ago (ties to the lower index), and appends the best of those
    it scored (ties to the lower index). On an additive objective the gains never change and it returns
    greedy's order; on a network the gains drift, and the features scored longest ago are the ones whose drift
    would go unseen. About a third of greedy's passes (808 at most at t = 49 for le-mo, against 2,448).
    With a ``run``, a stop keeps the order so far, the rest by stale gain.

    ``direction="morf"``: the same from the most important end (as ``greedy_order(problem, "morf")``): step k
    places at position t-1-k the feature whose removal from the remaining set keeps c largest, ties to the higher
    index (placed later).
    """
    direction = check_choice("direction", direction, ("lerf", "morf"))
    if direction == "morf":
        return _lazy_morf(problem, check_positive_int("candidates", candidates), stale, run)
    t = problem.t
    m = check_positive_int("candidates", candidates)
    r = check_positive_int("stale", stale, minimum=0)
    deleted = np.zeros(t, dtype=bool)
    placed: list[int] = []
    gain = np.zeros(t, dtype=np.float64)
    scored_at = np.zeros(t, dtype=np.int64)
    c_here = float(problem.c_values(np.zeros((1, t), dtype=bool))[0])

    def completed() -> np.ndarray:  # the order so far, then the rest by stale gain (largest first)
        rest = np.flatnonzero(~deleted)
        return np.array(placed + rest[np.lexsort((rest, -gain[rest]))].tolist(), dtype=np.int64)

    for step in range(t - 1):
        if run is not None:
            run.fallback(completed())
        remaining = np.flatnonzero(~deleted)
        if step == 0 or len(remaining) <= m + r:
            cand = remaining
        else:
            top = remaining[np.lexsort((remaining, -gain[remaining]))][:m]
            others = np.setdiff1d(remaining, top)
            cand = np.concatenate([top, others[np.lexsort((others, scored_at[others]))][:r]])
        cand = np.sort(cand)  # ties among the scored go to the lower index, as in greedy
        masks = np.repeat(deleted[None, :], len(cand), axis=0)
        masks[np.arange(len(cand)), cand] = True
        values = problem.c_values(masks)
        gain[cand] = values - c_here
        scored_at[cand] = step
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


def _lazy_morf(problem: TraceProblem, m: int, stale: int, run: Run | None) -> np.ndarray:
    """``lazy_greedy_order`` from the most important end (see there)."""
    t = problem.t
    r = check_positive_int("stale", stale, minimum=0)
    kept = np.ones(t, dtype=bool)  # the remaining set R (not yet placed at the back)
    placed: list[int] = []  # from the back
    gain = np.zeros(t, dtype=np.float64)
    scored_at = np.zeros(t, dtype=np.int64)
    c_here = float(problem.c_values(np.ones((1, t), dtype=bool))[0])

    def completed() -> np.ndarray:  # the rest by stale gain (the largest, least important, first), then placed
        rest = np.flatnonzero(kept)
        return np.array(rest[np.lexsort((rest, -gain[rest]))].tolist() + placed[::-1], dtype=np.int64)

    for step in range(t - 1):
        if run is not None:
            run.fallback(completed())
        remaining = np.flatnonzero(kept)
        if step == 0 or len(remaining) <= m + r:
            cand = remaining
        else:  # ties among the top to the higher index (the one MoRF places later)
            top = remaining[np.lexsort((-remaining, -gain[remaining]))][:m]
            others = np.setdiff1d(remaining, top)
            cand = np.concatenate([top, others[np.lexsort((others, scored_at[others]))][:r]])
        cand = np.sort(cand)
        masks = np.repeat(kept[None, :], len(cand), axis=0)
        masks[np.arange(len(cand)), cand] = False  # the deleted set P_(t-1-step) = R - {i}
        values = problem.c_values(masks)
        gain[cand] = values - c_here
        scored_at[cand] = step
        best = len(values) - 1 - int(np.argmax(values[::-1]))  # ties: the higher index, as greedy MoRF
        choice = int(cand[best])
        kept[choice] = False
        placed.append(choice)
        c_here = float(values[best])
    placed.append(int(np.flatnonzero(kept)[0]))
    sigma = np.array(placed[::-1], dtype=np.int64)
    if run is not None:
        run.fallback(sigma)
    return sigma


def rebuild_tail(problem: TraceProblem, sigma, length: int) -> tuple[np.ndarray, float]:
    """Rebuild the last ``length`` positions of ``sigma`` from the most important end, the head fixed: each step
    places at the back the tail feature i that maximises ``c(H + B + {i})``, with H the head's (deleted) set and
    B the features already placed at the back. A LeRF construction decides the most important features last,
    from a handful of candidates; this decides them first. Note: this is not greedy MoRF on the tail (greedy
    MoRF scores the complement within the tail, ``c(H + (T - B - {i}))``); it was measured in this form on the
    real network (``bench/imagenet_search.py``) and is kept only when it scores higher. Returns the better of
    the rebuilt and the given trajectory with its score (ties keep the given one). Cost: about
    ``length (length + 1)`` passes for le-mo.
    """
    sigma = np.asarray(sigma, dtype=np.int64)
    t = problem.t
    length = min(check_positive_int("length", length, minimum=2), t)
    tail = sigma[t - length :]
    kept = np.ones(t, dtype=bool)  # the remaining set R (True: not deleted)
    kept[sigma[: t - length]] = False
    kept_tail = np.ones(length, dtype=bool)
    placed: list[int] = []
    for _ in range(length - 1):
        cand = tail[kept_tail]
        masks = np.repeat(kept[None, :], len(cand), axis=0)
        masks[np.arange(len(cand)), cand] = False  # R - {i} ... as deleted sets: ~(R - {i})
        values = problem.c_values(~masks)
        best = len(values) - 1 - int(np.argmax(values[::-1]))  # ties: the higher index last, as greedy MoRF
        choice = int(cand[best])
        placed.append(choice)
        kept[choice] = False
        kept_tail[np.flatnonzero(tail == choice)[0]] = False
    rebuilt = np.concatenate([sigma[: t - length], tail[kept_tail], np.array(placed[::-1], dtype=np.int64)])
    old, new = problem.score(sigma), problem.score(rebuilt)
    return (rebuilt, new) if new > old else (sigma, old)
