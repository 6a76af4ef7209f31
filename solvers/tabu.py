"""Tabu search over trajectories (Glover 1986) with batched, incremental move evaluation."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from neighbourhoods import Neighbourhood, NeighbourhoodSpec, check_neighbourhood_spec, get_neighbourhood
from trace_opt.core.budget import BudgetExhausted
from trace_opt.core.validation import check_positive_int

from ._common import POLISH_SHARE, Polishing, check_init, check_polish, initial_trajectory
from ._moves import move_deltas_in_pieces
from .base import Solver, register

#: proposals drawn per wanted move, at most, when sampling distinct moves by rejection
_MAX_DRAWS_PER_MOVE = 10
_NO_MOVES = np.zeros(0, dtype=np.int64)


def all_transpositions(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every swap of two positions i < j of sigma: ``(candidates M x t, lo, hi)`` with M = t(t-1)/2."""
    t = len(sigma)
    lo, hi = np.triu_indices(t, k=1)
    return swap_candidates(sigma, lo.astype(np.int64), hi.astype(np.int64))


def swap_candidates(sigma: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trajectories of swapping positions ``lo[m] < hi[m]`` of sigma: ``(candidates, lo, hi)``."""
    cand = np.repeat(sigma[None, :], len(lo), axis=0)
    rows = np.arange(len(lo))
    cand[rows, lo] = sigma[hi]
    cand[rows, hi] = sigma[lo]
    return cand, lo, hi


def enumerates_all(nb: Neighbourhood, sigma: np.ndarray, limit: int) -> bool:
    """True when tabu scores the whole neighbourhood: it can be enumerated (``nb.move_count()`` is not
    None) and has at most ``limit`` distinct neighbours. Decided once per solve (for these moves the number
    of distinct neighbours does not depend on sigma); the neighbours are counted by enumeration only when
    the number of moves cannot decide (at most 4 built-in moves give the same neighbour: an adjacent swap
    in ``"mix"``)."""
    n = nb.move_count()
    if n is None or n > 4 * limit:
        return False
    return n <= limit or len(nb.neighbours(sigma)) <= limit


@register("tabu")
class TabuSearch(Polishing, Solver):
    """Tabu search: per iteration, score M moves in one oracle batch and take the best admissible one.

    Parameters
    ----------
    iterations : tabu iterations (each scores up to ``candidates`` moves in one batch).
    candidates : M, moves scored per iteration. When the neighbourhood can enumerate its moves
        (``Neighbourhood.neighbours``: every built-in one) and has at most M distinct neighbours, all
        of them are scored; otherwise M **distinct** moves are sampled without replacement (exactly for
        transposition sets; by rejection of repeated neighbours, at most 10 M draws, for the others).
    tenure : iterations during which the pair of features a move touched (``sigma[lo]``, ``sigma[hi]``
        before the move; the swapped pair for a transposition) may not be moved again as a pair.
        0 makes the search a steepest ascent. None: ``max(1, t // 4)``.
    neighbourhood : name or ``Neighbourhood`` (default ``"complete"`` transpositions).
    init : ``"greedy"``, ``"greedy-morf"``, ``"random"`` or a start permutation.
    stagnation : restart from the best trajectory after this many iterations without a new best,
        perturbed by ``restart_moves`` random moves (None: never restart).
    restart_moves : random neighbourhood moves applied at a restart.
    polish_window : finish with exact window moves of this width (``window_descent``) on the best
        trajectory; the main loop then runs on ``1 - polish_share`` of every limit of the solve and
        polishing gets the rest (``solvers._common.Polishing``). When polishing converges with forward passes
        left, the tabu search goes on where it stopped, again with a share kept for polishing, until a
        round spends nothing (``stopped`` is then "budget": less than one move's cost is left).
        ``"auto"`` (default): ``min(6, t)``; None: no polishing. (At t = 49, sampled transpositions cost
        ~1,500 passes per iteration and the plain tabu loop did not improve on its greedy start within
        100,000 passes; polishing did.)
    polish_share : share of each limit (forward passes, seconds, iterations) kept for polishing.

    Large t: nothing of size t^2 is built (sampled moves are drawn by index, the tabu list is a dict of
    the pairs moved); candidates whose changed prefix sets would need more than ``MASK_BYTES`` of masks
    are scored in pieces. In the rounds after polishing handed the budget back, a batch the budget
    refuses is halved, down to one move.

    Aspiration: a tabu move is taken when it beats the best score so far. When every sampled move is
    tabu and none aspires, the one whose tabu status expires first is taken. Ties go to the first move.
    """

    def __init__(
        self,
        iterations: int = 1000,
        candidates: int = 64,
        tenure: int | None = None,
        neighbourhood: NeighbourhoodSpec = "complete",
        init: str | ArrayLike = "greedy",
        stagnation: int | None = 50,
        restart_moves: int = 3,
        polish_window: int | str | None = "auto",
        polish_share: float = POLISH_SHARE,
    ):
        self.iterations = check_positive_int("iterations", iterations)
        self.candidates = check_positive_int("candidates", candidates)
        self.tenure = check_positive_int("tenure", tenure, minimum=0, allow_none=True)
        self.neighbourhood = check_neighbourhood_spec(neighbourhood)
        self.init = check_init(init)
        self.stagnation = check_positive_int("stagnation", stagnation, allow_none=True)
        self.restart_moves = check_positive_int("restart_moves", restart_moves)
        self.polish_window, self.polish_share = check_polish(polish_window, polish_share)

    def _progress_total(self, problem):
        return self.iterations

    def _moves(self, nb, sigma, rng, enumerate_all: bool):
        """The moves scored this iteration: ``(candidates, lo, hi)`` (see ``candidates``)."""
        M = self.candidates
        if nb.transposition_positions(sigma, _NO_MOVES) is not None:
            # a transposition set: all its swaps, or M distinct ones drawn by index (no enumeration)
            if enumerate_all:
                lo, hi = nb.transposition_positions(sigma)
            else:
                pick = np.sort(rng.choice(nb.move_count(), size=M, replace=False))
                lo, hi = nb.transposition_positions(sigma, pick)
            return swap_candidates(sigma, lo, hi)
        if enumerate_all:
            moves = nb.neighbours(sigma)
        else:  # distinct neighbours by rejection of repeats
            seen, moves = set(), []
            for _ in range(_MAX_DRAWS_PER_MOVE * M):
                new, lo, hi = nb.propose(sigma, rng)
                key = np.asarray(new).tobytes()
                if key not in seen:
                    seen.add(key)
                    moves.append((new, lo, hi))
                    if len(moves) == M:
                        break
        cand = np.stack([m[0] for m in moves]).astype(np.int64, copy=False)
        lo = np.array([m[1] for m in moves], dtype=np.int64)
        hi = np.array([m[2] for m in moves], dtype=np.int64)
        return cand, lo, hi

    def _score(self, problem, sigma, chain, cand, lo, hi):
        """``problem.move_deltas`` of the candidates, in pieces at large t (``move_deltas_in_pieces``)."""
        return move_deltas_in_pieces(problem, sigma, chain, cand, lo, hi)

    def _main(self, problem, run):
        state = run.state.get("tabu")
        if state is None:  # a new solve; else the rest of the budget handed back after polishing
            state = run.state["tabu"] = _TabuState(self, problem, run)
        else:
            state.resumed = True
        state.search(self)


class _TabuState:
    """Tabu's search state, kept between the rounds of one solve (``Polishing`` calls ``_main`` again when
    polishing converged with forward passes left: the search goes on where it stopped)."""

    def __init__(self, solver, problem, run):
        t = problem.t
        self.run, self.problem = run, problem
        self.nb = get_neighbourhood(solver.neighbourhood, t)
        self.tenure = max(1, t // 4) if solver.tenure is None else solver.tenure
        self.tabu = TabuList(t)  # by feature pair, symmetric; sparse: O(moves made) memory, not O(t^2)
        self.sigma = initial_trajectory(problem, solver.init, run.rng, run)
        self.enumerate_all = enumerates_all(self.nb, self.sigma, solver.candidates)
        run.info["neighbourhood_enumerated"] = self.enumerate_all
        self.chain = problem.chain(self.sigma)
        self.score = float(self.chain.sum())
        run.report(self.sigma, self.score)
        self.it = 0
        self.since_best = 0
        self.resumed = False  # True once polishing handed the rest of the budget back

    def search(self, solver):
        problem, run, nb, rng = self.problem, self.run, self.nb, self.run.rng
        tenure = self.tenure
        while self.it < solver.iterations:
            run.tick()
            it = self.it + 1
            sigma, chain = self.sigma, self.chain
            cand, lo, hi = solver._moves(nb, sigma, rng, self.enumerate_all)
            deltas, segments, cand, lo, hi = self._fit(solver, problem, sigma, chain, cand, lo, hi, self.resumed)
            self.it = it
            fa, fb = sigma[lo], sigma[hi]
            expiry = self.tabu.expiry(fa, fb)
            is_tabu = expiry > it
            aspires = self.score + deltas > run.best_score
            admissible = ~is_tabu | aspires
            if admissible.any():
                m = int(np.flatnonzero(admissible)[np.argmax(deltas[admissible])])
            else:
                m = int(np.argmin(expiry))
            low, h = int(lo[m]), int(hi[m])
            a, b = int(sigma[low]), int(sigma[h])
            self.sigma = cand[m]
            chain[low + 1 : h + 1] = segments[m]
            self.score += float(deltas[m])
            if tenure > 0:
                self.tabu.forbid(a, b, it + tenure)
            if self.score > run.best_score:
                self.score = float(chain.sum())
                run.report(self.sigma, self.score)
                self.since_best = 0
            else:
                self.since_best += 1
            if solver.stagnation is not None and self.since_best >= solver.stagnation:
                sigma = run.best_sigma.copy()
                for _ in range(solver.restart_moves):
                    sigma = nb.propose(sigma, rng)[0]
                self.chain = problem.chain(sigma)
                self.sigma = sigma
                self.score = float(self.chain.sum())
                self.tabu.clear()
                self.since_best = 0

    @staticmethod
    def _fit(solver, problem, sigma, chain, cand, lo, hi, halve: bool):
        """Score the candidates. With ``halve`` (the rounds after polishing handed the budget back), when
        the forward-pass budget refuses them, the first half of them, and so on down to one move (a refused
        request evaluates nothing, so the budget's end is spent down to less than one move's cost instead
        of one batch's). The first round stops at a refused batch, as before, which leaves polishing its
        share and the rest. Returns ``(deltas, segments, cand, lo, hi)``."""
        while True:
            try:
                deltas, segments = solver._score(problem, sigma, chain, cand, lo, hi)
                return deltas, segments, cand, lo, hi
            except BudgetExhausted as exc:
                if not halve or exc.reason != "budget" or len(cand) == 1:
                    raise
                n = len(cand) // 2
                cand, lo, hi = cand[:n], lo[:n], hi[:n]


class TabuList:
    """Tabu status of feature pairs: ``forbid(a, b, until)`` and ``expiry(fa, fb)`` (0 for a free pair),
    symmetric. A dict of the pairs moved (at most one per iteration), never a t x t table."""

    def __init__(self, t: int):
        self.t = t
        self._until: dict[int, int] = {}

    def _key(self, a, b):
        return np.minimum(a, b) * self.t + np.maximum(a, b)

    def forbid(self, a: int, b: int, until: int) -> None:
        self._until[int(self._key(a, b))] = int(until)

    def expiry(self, fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
        get = self._until.get
        keys = self._key(np.asarray(fa, dtype=np.int64), np.asarray(fb, dtype=np.int64))
        return np.fromiter((get(k, 0) for k in keys.tolist()), dtype=np.int64, count=len(keys))

    def clear(self) -> None:
        self._until.clear()
