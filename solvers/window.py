"""Exact window moves: optimally reorder w consecutive positions with everything else fixed.

For a window at positions ``a..a+w-1`` of sigma, with ``B = P_a`` and ``W = sigma[a:a+w]``, the chain
sets ``P_a..P_(a+w)`` are ``B | U`` for a chain of subsets ``U`` of W, so the best order of W is the best
maximal chain in the lattice of W's 2^w subsets: the same DP as the exact optimum (DESIGN.md section 3,
``kernels.chain_dp``) on ``c(B | U)``, one oracle batch of 2^w sets (cached sets are free).
"""
from __future__ import annotations

import numbers

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


def check_window(window: int, t: int, name: str = "window") -> None:
    """ValueError unless window <= t (called at solve time, when t is known); ``name`` is the argument
    the window came from (``"polish_window"``, ``"memetic_window"``, ...), named in the message."""
    if window > t:
        raise ValueError(f"{name}={window} is larger than t={t}; expected 2 <= {name} <= t")


#: default ``polish_share``: the share of each limit (forward passes, seconds, iterations) that a solver
#: with ``polish_window`` keeps back from its main loop for the polishing step
POLISH_SHARE = 0.2


def check_polish(polish_window, polish_share) -> tuple:
    """Constructor validation of ``polish_window`` (2..MAX_WINDOW or None) and ``polish_share`` (in (0, 1))."""
    polish_window = check_positive_int("polish_window", polish_window, minimum=2, allow_none=True)
    if polish_window is not None and polish_window > MAX_WINDOW:
        raise ValueError(f"polish_window={polish_window!r} is not valid; expected 2..{MAX_WINDOW} or None")
    ok = isinstance(polish_share, numbers.Real) and not isinstance(polish_share, bool) and 0 < polish_share < 1
    if not ok:
        raise ValueError(f"polish_share={polish_share!r} is not valid; expected a number in (0, 1)")
    return polish_window, float(polish_share)


class Polishing:
    """Mixin of the solvers with a ``polish_window`` option (tabu, GA, beam): the main search runs in
    ``_main(problem, run)``; ``_search`` adds the polishing step.

    With ``polish_window`` set, the main search runs under limits tightened to ``1 - polish_share`` of
    each limit of the solve (forward passes, seconds, iterations; ``Run.reserve``), so a budget that
    ends the main loop leaves the rest to polishing: exact window moves (``window_descent``) on the
    best trajectory so far, which only ever report improvements (the result stays the best seen, and
    the budget is never exceeded). When the main loop finishes within its share, polishing gets
    everything left. ``Result.stopped`` keeps the main loop's reason ("budget", "time",
    "iterations") if a limit ended it; ``Result.info["polish_forward_passes"]`` counts polishing's passes.
    """

    polish_window: int | None = None
    polish_share: float = POLISH_SHARE

    def _check_windows(self, t: int) -> None:
        """Check every window option against t before any forward pass (subclasses add theirs)."""
        if self.polish_window is not None:
            check_window(self.polish_window, t, "polish_window")

    def _search(self, problem, run):
        self._check_windows(problem.t)
        if self.polish_window is None:
            self._main(problem, run)
            return
        with run.reserve(self.polish_share):
            self._main(problem, run)
        passes = run.passes_used
        run.info["polish_forward_passes"] = 0
        if run.best_sigma is None:  # stopped before any trajectory existed
            run.best_sigma = np.arange(problem.t, dtype=np.int64)
        try:
            window_descent(problem, run.best_sigma, self.polish_window, run=run)
        finally:
            run.info["polish_forward_passes"] = run.passes_used - passes

    def _main(self, problem, run):  # pragma: no cover - abstract
        raise NotImplementedError


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
        check_window(window, problem.t, "window")
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
