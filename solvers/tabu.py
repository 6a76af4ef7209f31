"""Tabu search over trajectories (Glover 1986) with batched, incremental move evaluation."""
from __future__ import annotations

import numpy as np

from neighbourhoods import CompleteTranspositions, check_neighbourhood_spec, get_neighbourhood
from trace_opt._validation import check_positive_int

from .anneal import INIT_CHOICES, initial_trajectory
from .base import Solver, register
from .window import MAX_WINDOW, check_window, window_descent


def all_transpositions(sigma: np.ndarray):
    """Every swap of two positions i < j of sigma: ``(candidates M x t, lo, hi)`` with M = t(t-1)/2."""
    t = len(sigma)
    lo, hi = np.triu_indices(t, k=1)
    cand = np.repeat(sigma[None, :], len(lo), axis=0)
    rows = np.arange(len(lo))
    cand[rows, lo] = sigma[hi]
    cand[rows, hi] = sigma[lo]
    return cand, lo.astype(np.int64), hi.astype(np.int64)


@register("tabu")
class TabuSearch(Solver):
    """Tabu search: per iteration, score M moves in one oracle batch and take the best admissible one.

    Parameters
    ----------
    iterations : tabu iterations (each scores up to ``candidates`` moves in one batch).
    candidates : M, moves sampled per iteration from ``neighbourhood``. With complete transpositions
        and ``t(t-1)/2 <= M``, or another transposition set with at most M transpositions, the whole
        neighbourhood is enumerated instead.
    tenure : iterations during which the pair of features a move touched (``sigma[lo]``, ``sigma[hi]``
        before the move; the swapped pair for a transposition) may not be moved again as a pair.
        0 makes the search a steepest ascent. None: ``max(1, t // 4)``.
    neighbourhood : name or ``Neighbourhood`` (default ``"complete"`` transpositions).
    init : ``"greedy"``, ``"greedy-morf"``, ``"random"`` or a start permutation.
    stagnation : restart from the best trajectory after this many iterations without a new best,
        perturbed by ``restart_moves`` random moves (None: never restart).
    restart_moves : random neighbourhood moves applied at a restart.
    polish_window : if set, finish with exact window moves of this width (``window_descent``).

    Aspiration: a tabu move is taken when it beats the best score so far. When every sampled move is
    tabu and none aspires, the one whose tabu status expires first is taken. Ties go to the first move.
    """

    def __init__(self, iterations: int = 1000, candidates: int = 64, tenure: int | None = None,
                 neighbourhood="complete", init="greedy", stagnation: int | None = 50, restart_moves: int = 3,
                 polish_window: int | None = None):
        self.iterations = check_positive_int("iterations", iterations)
        self.candidates = check_positive_int("candidates", candidates)
        self.tenure = check_positive_int("tenure", tenure, minimum=0, allow_none=True)
        self.neighbourhood = check_neighbourhood_spec(neighbourhood)
        if isinstance(init, str) and init not in INIT_CHOICES:
            raise ValueError(f"init={init!r} is not valid; expected one of {list(INIT_CHOICES)} or a permutation")
        self.init = init
        self.stagnation = check_positive_int("stagnation", stagnation, allow_none=True)
        self.restart_moves = check_positive_int("restart_moves", restart_moves)
        self.polish_window = check_positive_int("polish_window", polish_window, minimum=2, allow_none=True)
        if self.polish_window is not None and self.polish_window > MAX_WINDOW:
            raise ValueError(f"polish_window={polish_window!r} is not valid; expected 2..{MAX_WINDOW} or None")

    def _progress_total(self, problem):
        return self.iterations

    def _search(self, problem, run):
        t = problem.t
        if self.polish_window is not None:
            check_window(self.polish_window, t)
        nb = get_neighbourhood(self.neighbourhood, t)
        rng = run.rng
        tenure = max(1, t // 4) if self.tenure is None else self.tenure
        complete_small = isinstance(nb, CompleteTranspositions) and t * (t - 1) // 2 <= self.candidates
        # other transposition sets (bubble, star, graphs) are enumerated too when they have <= M moves
        other_small = (not complete_small and hasattr(nb, "transpositions")
                       and len(nb.transpositions()) <= self.candidates)
        tabu_until = np.zeros((t, t), dtype=np.int64)  # by feature pair, symmetric
        sigma = initial_trajectory(problem, self.init, rng, run)
        chain = problem.chain(sigma)
        score = float(chain.sum())
        run.report(sigma, score)
        since_best = 0
        for it in range(1, self.iterations + 1):
            run.tick()
            if complete_small:
                cand, lo, hi = all_transpositions(sigma)
            elif other_small:
                moves = nb.neighbours(sigma)
                cand = np.stack([m[0] for m in moves])
                lo = np.array([m[1] for m in moves], dtype=np.int64)
                hi = np.array([m[2] for m in moves], dtype=np.int64)
            else:
                props = [nb.propose(sigma, rng) for _ in range(self.candidates)]
                cand = np.stack([p[0] for p in props])
                lo = np.array([p[1] for p in props], dtype=np.int64)
                hi = np.array([p[2] for p in props], dtype=np.int64)
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
        if self.polish_window is not None:
            window_descent(problem, run.best_sigma, self.polish_window, run=run)
