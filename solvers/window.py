"""Exact window moves: optimally reorder w consecutive positions with everything else fixed.

For a window at positions ``a..a+w-1`` of sigma, with ``B = P_a`` and ``W = sigma[a:a+w]``, the chain
sets ``P_a..P_(a+w)`` are ``B | U`` for a chain of subsets ``U`` of W, so the best order of W is the best
maximal chain in the lattice of W's 2^w subsets: the same DP as the exact optimum (DESIGN.md section 3,
``kernels.chain_dp``) on ``c(B | U)``, one oracle batch of 2^w sets (cached sets are free).
"""
from __future__ import annotations

import numpy as np

from neighbourhoods import check_neighbourhood_spec, get_neighbourhood
from trace_opt._validation import check_positive_int

from . import kernels
from .anneal import INIT_CHOICES, initial_trajectory
from .base import Run, Solver, register

#: largest window accepted (2^w sets per move)
MAX_WINDOW = 20
#: window of ``WindowDP`` when none is given (clamped to t)
DEFAULT_WINDOW = 6


def check_window(window: int, t: int) -> None:
    """ValueError unless 2 <= window <= t (called at solve time, when t is known)."""
    if window > t:
        raise ValueError(f"window={window} is larger than t={t}; expected 2 <= window <= t")


def window_move(problem, sigma: np.ndarray, chain: np.ndarray, a: int, w: int):
    """The best reordering of ``sigma[a:a+w]``: returns ``(new_sigma, new_chain, delta)``.

    ``chain`` holds ``c(P_k)`` of ``sigma`` (k = 0..t); ``delta >= 0`` up to rounding (the current order
    is one of the candidates). ``new_chain`` is ``chain`` with ``k = a+1..a+w-1`` replaced.
    """
    t = problem.t
    win = sigma[a:a + w]
    n = 1 << w
    masks = np.zeros((n, t), dtype=bool)
    masks[:, sigma[:a]] = True
    local = ((np.arange(n)[:, None] >> np.arange(w)[None, :]) & 1).astype(bool)
    masks[:, win] = local
    c = problem.c_values(masks)
    order, best = kernels.chain_dp(c)
    new_sigma = sigma.copy()
    new_sigma[a:a + w] = win[order]
    keys = np.cumsum(np.left_shift(1, order))  # local keys of the new P_(a+1)..P_(a+w)
    new_chain = chain.copy()
    new_chain[a + 1:a + w] = c[keys[:-1]]
    delta = float(best) - float(chain[a:a + w + 1].sum())
    return new_sigma, new_chain, delta


def window_starts(t: int, w: int, stride: int) -> list[int]:
    """Window start positions of one sweep: 0, stride, ..., always ending with t - w."""
    starts = list(range(0, t - w + 1, stride))
    if starts[-1] != t - w:
        starts.append(t - w)
    return starts


def window_descent(problem, sigma, window: int, stride: int | None = None, chain=None, run: Run | None = None,
                   max_sweeps: int | None = None):
    """Sweep exact window moves over sigma until no window improves (or ``max_sweeps``).

    Returns ``(sigma, chain)`` of a window-optimal trajectory (no reordering of any swept window
    improves it). With a ``run``, each window move is an iteration and improvements are reported.
    Usable as the polishing step of any solver.
    """
    t = problem.t
    window = check_positive_int("window", window, minimum=2)
    check_window(window, t)
    stride = max(1, window // 2) if stride is None else check_positive_int("stride", stride)
    sigma = np.array(sigma, dtype=np.int64)
    chain = problem.chain(sigma) if chain is None else np.array(chain, dtype=np.float64)
    score = float(chain.sum())
    if run is not None:
        run.report(sigma, score)
    sweeps = 0
    while max_sweeps is None or sweeps < max_sweeps:
        sweeps += 1
        improved = False
        for a in window_starts(t, window, stride):
            if run is not None:
                run.tick()
            new_sigma, new_chain, delta = window_move(problem, sigma, chain, a, window)
            if delta > 1e-12 * (1.0 + abs(score)):
                sigma, chain = new_sigma, new_chain
                score = float(chain.sum())
                improved = True
                if run is not None:
                    run.report(sigma, score)
        if not improved:
            break
    return sigma, chain


@register("window-dp")
class WindowDP(Solver):
    """Iterated local search with exact window moves (a large neighbourhood solved by DP).

    Parameters
    ----------
    window : w, positions reordered optimally per move (2^w sets per move; 2 <= w <= min(t, 20)).
        None: ``min(6, t)``. A window larger than t is refused at solve time.
    stride : shift between consecutive windows of a sweep (None: w // 2).
    init : ``"greedy"``, ``"greedy-morf"``, ``"random"`` or a start permutation.
    kicks : perturbation rounds after the first descent (0: stop at the first window-optimal
        trajectory). Each round applies ``kick_moves`` random moves of ``neighbourhood`` to the best
        trajectory, descends again, and keeps the result if it is better.
    kick_moves : random moves per perturbation.
    neighbourhood : name or ``Neighbourhood`` for the perturbations (default complete transpositions).
    """

    def __init__(self, window: int | None = None, stride: int | None = None, init="greedy", kicks: int = 50,
                 kick_moves: int = 3, neighbourhood="complete"):
        self.window = check_positive_int("window", window, minimum=2, allow_none=True)
        if self.window is not None and self.window > MAX_WINDOW:
            raise ValueError(f"window={window!r} is not valid; expected 2 <= window <= {MAX_WINDOW} (2^w sets per move)")
        self.stride = check_positive_int("stride", stride, allow_none=True)
        if isinstance(init, str) and init not in INIT_CHOICES:
            raise ValueError(f"init={init!r} is not valid; expected one of {list(INIT_CHOICES)} or a permutation")
        self.init = init
        self.kicks = check_positive_int("kicks", kicks, minimum=0)
        self.kick_moves = check_positive_int("kick_moves", kick_moves)
        self.neighbourhood = check_neighbourhood_spec(neighbourhood)

    def _search(self, problem, run):
        window = min(DEFAULT_WINDOW, problem.t) if self.window is None else self.window
        check_window(window, problem.t)
        nb = get_neighbourhood(self.neighbourhood, problem.t)
        rng = run.rng
        sigma = initial_trajectory(problem, self.init, rng, run)
        best, best_chain = window_descent(problem, sigma, window, self.stride, run=run)
        for _ in range(self.kicks):
            cand = best.copy()
            for _ in range(self.kick_moves):
                cand = nb.propose(cand, rng)[0]
            cand, cand_chain = window_descent(problem, cand, window, self.stride, run=run)
            if cand_chain.sum() > best_chain.sum():
                best, best_chain = cand, cand_chain
