"""Tabu search over trajectories (Glover 1986) with batched, incremental move evaluation."""
from __future__ import annotations

import numpy as np

from neighbourhoods import Neighbourhood, check_neighbourhood_spec, get_neighbourhood
from trace_opt.core.validation import check_positive_int

from ._common import POLISH_SHARE, Polishing, check_init, check_polish, initial_trajectory
from .base import Solver, register

#: proposals drawn per wanted move, at most, when sampling distinct moves by rejection
_MAX_DRAWS_PER_MOVE = 10


def all_transpositions(sigma: np.ndarray):
    """Every swap of two positions i < j of sigma: ``(candidates M x t, lo, hi)`` with M = t(t-1)/2."""
    t = len(sigma)
    lo, hi = np.triu_indices(t, k=1)
    return swap_candidates(sigma, lo.astype(np.int64), hi.astype(np.int64))


def swap_candidates(sigma: np.ndarray, lo: np.ndarray, hi: np.ndarray):
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
        polishing gets the rest (``solvers.window.Polishing``). ``"auto"`` (default): ``min(6, t)``;
        None: no polishing. (At t = 49, sampled transpositions cost ~1,500 passes per iteration and
        the plain tabu loop did not improve on its greedy start within 100,000 passes; polishing did.)
    polish_share : share of each limit (forward passes, seconds, iterations) kept for polishing.

    Aspiration: a tabu move is taken when it beats the best score so far. When every sampled move is
    tabu and none aspires, the one whose tabu status expires first is taken. Ties go to the first move.
    """

    def __init__(self, iterations: int = 1000, candidates: int = 64, tenure: int | None = None,
                 neighbourhood="complete", init="greedy", stagnation: int | None = 50, restart_moves: int = 3,
                 polish_window="auto", polish_share: float = POLISH_SHARE):
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
        pairs = nb.transposition_positions(sigma)
        if pairs is not None:  # a transposition set: all its swaps, or M distinct ones, vectorised
            lo, hi = pairs
            if not enumerate_all:
                pick = np.sort(rng.choice(len(lo), size=M, replace=False))
                lo, hi = lo[pick], hi[pick]
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

    def _main(self, problem, run):
        t = problem.t
        nb = get_neighbourhood(self.neighbourhood, t)
        rng = run.rng
        tenure = max(1, t // 4) if self.tenure is None else self.tenure
        tabu_until = np.zeros((t, t), dtype=np.int64)  # by feature pair, symmetric
        sigma = initial_trajectory(problem, self.init, rng, run)
        enumerate_all = enumerates_all(nb, sigma, self.candidates)
        run.info["neighbourhood_enumerated"] = enumerate_all
        chain = problem.chain(sigma)
        score = float(chain.sum())
        run.report(sigma, score)
        since_best = 0
        for it in range(1, self.iterations + 1):
            run.tick()
            cand, lo, hi = self._moves(nb, sigma, rng, enumerate_all)
            deltas, segments = problem.move_deltas(sigma, chain, cand, lo, hi)
            fa, fb = sigma[lo], sigma[hi]
            expiry = tabu_until[fa, fb]
            is_tabu = expiry > it
            aspires = score + deltas > run.best_score
            admissible = ~is_tabu | aspires
            if admissible.any():
                m = int(np.flatnonzero(admissible)[np.argmax(deltas[admissible])])
            else:
                m = int(np.argmin(expiry))
            l, h = int(lo[m]), int(hi[m])
            a, b = int(sigma[l]), int(sigma[h])
            sigma = cand[m]
            chain[l + 1:h + 1] = segments[m]
            score += float(deltas[m])
            if tenure > 0:
                tabu_until[a, b] = tabu_until[b, a] = it + tenure
            if score > run.best_score:
                score = float(chain.sum())
                run.report(sigma, score)
                since_best = 0
            else:
                since_best += 1
            if self.stagnation is not None and since_best >= self.stagnation:
                sigma = run.best_sigma.copy()
                for _ in range(self.restart_moves):
                    sigma = nb.propose(sigma, rng)[0]
                chain = problem.chain(sigma)
                score = float(chain.sum())
                tabu_until[:] = 0
                since_best = 0
