"""Helpers shared by the solvers (private): starts of a local search and exact window moves.

* starts: ``INIT_CHOICES``, ``check_init``, ``initial_trajectory`` (greedy on the objective, greedy LeRF
  on D, the paper's greedy LeRF on probabilities, greedy MoRF, random) and ``describe_start``;
* exact window moves: for a window at positions ``a..a+w-1`` of sigma, with ``B = P_a`` and
  ``W = sigma[a:a+w]``, the chain sets ``P_a..P_(a+w)`` are ``B | U`` for a chain of subsets ``U`` of W,
  so the best order of W is the best maximal chain in the lattice of W's 2^w subsets: the same DP as
  the exact optimum (DESIGN.md section 3, ``kernels.chain_dp``) on ``c(B | U)``, one oracle batch of 2^w
  sets (cached sets are free). ``window_descent`` sweeps such moves; the ``Polishing`` mixin runs it on
  a solver's result within a reserved share of the budget.
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from trace_opt.core.kernels import prefix_bitmasks
from trace_opt.core.problem import TraceProblem
from trace_opt.core.validation import check_positive_int

from . import kernels
from .base import Run
from .greedy import LAZY_CANDIDATES, LAZY_STALE, greedy_order, lazy_greedy_cost, lazy_greedy_order

INIT_CHOICES = ("greedy", "lazy-greedy", "greedy-morf", "greedy-lerf", "greedy-lerf-prob", "random")


def check_init(init):
    """``init`` as given, if it names a start in ``INIT_CHOICES`` or is not a string (a permutation,
    checked against t at solve time); a ValueError naming it otherwise."""
    if isinstance(init, str) and init not in INIT_CHOICES:
        raise ValueError(f"init={init!r} is not valid; expected one of {list(INIT_CHOICES)} or a permutation")
    return init


GREEDY_STARTS = ("greedy", "greedy-morf", "greedy-lerf", "greedy-lerf-prob")


def greedy_cost(t: int, objective) -> int:
    """Forward passes a greedy construction needs at most (no cache hit): ``t(t+1)/2 - 1`` sets, each with
    its complement for ``le-mo`` (2,448 at t = 49)."""
    sets = t * (t + 1) // 2 - 1
    return 2 * sets if objective == "le-mo" else sets


def start_cost(problem, init) -> int:
    """Forward passes the start ``init`` needs at most (greedy starts; 0 for the others)."""
    if isinstance(init, str) and init == "lazy-greedy":
        return lazy_greedy_cost(problem.t, problem.objective)
    if not (isinstance(init, str) and init in GREEDY_STARTS):
        return 0
    objective = problem.objective if init in ("greedy", "greedy-morf") else "le"
    return greedy_cost(problem.t, objective)


def passes_left(oracle) -> float:
    """Forward passes the oracle's current limits still allow (inf without a pass limit)."""
    limit = oracle.limits.effective_passes
    return np.inf if limit is None else max(0, limit - oracle.forward_passes)


def single_feature_order(problem, run: Run | None = None) -> np.ndarray:
    """The cheap start: features sorted by ``D({i}) - D(all \\ {i})``, descending (ties: lower index first).

    Both single-feature deletion tests, 2t forward passes: on an additive D (``D(S) = b + sum_{i in S} w_i``)
    the score is ``2 w_i - W`` and the order is the exact optimum of le, mo and le-mo (a sort by w). When
    fewer than 2t passes are left it uses ``D({i})`` alone (t passes), and with fewer than t it keeps the
    index order (nothing is evaluated)."""
    t = problem.t
    oracle = problem.oracle
    left = passes_left(oracle) if run is not None else np.inf
    eye = np.eye(t, dtype=bool)
    if left >= 2 * t:
        d = oracle.evaluate(np.concatenate([eye, ~eye]))
        score = d[:t] - d[t:]
    elif left >= t:
        score = oracle.evaluate(eye)
    else:
        return np.arange(t, dtype=np.int64)
    return np.argsort(-score, kind="stable").astype(np.int64)


#: leaner settings (candidates, stale) of the lazy greedy start when the default's cost does not fit the budget,
#: the first whose cost is at most ``LAZY_LADDER_SHARE`` of the passes left; below them all, the single-feature order
LAZY_LADDER = ((2, 2), (2, 1), (1, 1), (1, 0))
LAZY_LADDER_SHARE = 0.8


def initial_trajectory(problem, init, rng: np.random.Generator, run: Run | None = None) -> np.ndarray:
    """The start of a local search: a name from ``INIT_CHOICES`` or a given permutation.

    * ``"greedy"``: ``greedy_order(problem, "lerf")`` on the problem's **objective**: from the least
      important end, each step appends the feature maximising ``c(P_k + {i})`` (for ``"le"`` that is the
      greedy LeRF order of D; for ``"le-mo"`` and ``"mo"`` it is greedy on that objective's c).
    * ``"lazy-greedy"``: ``lazy_greedy_order(problem)``: greedy on the objective scoring per step only the 4
      features of largest stale gain and the 4 scored longest ago (about a third of greedy's passes; 808 at most
      at t = 49 for le-mo).
    * ``"greedy-morf"``: ``greedy_order(problem, "morf")``, built from the most important end.
    * ``"greedy-lerf"``: the greedy LeRF order of D itself (maximise ``D(P_k + {i})``) whatever the
      objective, on the problem's output.
    * ``"greedy-lerf-prob"``: **the paper's start** (as the authors' code does it): the greedy LeRF order
      of the softmax probability of the same model and target, whatever the problem's output (needs a
      ``ModelOracle``; its probability passes count against the same budget).
    * ``"random"``: a permutation drawn from ``rng``.

    With a ``run``, a greedy start stopped by the budget leaves its partial order as the fallback
    result; its steps are not counted as iterations (those are the solver's own). The start's
    description goes to ``run.info["start"]``.

    **Small budgets**: with a ``run`` whose forward-pass limit leaves fewer passes than a greedy start
    needs at most (``start_cost``: ~t^2 for le-mo), ``"lazy-greedy"`` takes the first leaner setting of
    ``LAZY_LADDER`` whose cost is at most ``LAZY_LADDER_SHARE`` of the passes left; otherwise (and for the other
    starts) the start is the single-feature order instead
    (``single_feature_order``, 2t passes, on the start's own output for ``"greedy-lerf-prob"``), so the
    search still runs; ``run.info["start"]`` says so and ``run.info["start_fallback"]`` is True. With
    enough budget (or none) nothing changes.
    """
    if run is not None:
        run.info["start"] = describe_start(init, problem.objective, getattr(problem.oracle, "output", None))
        need, left = start_cost(problem, init), passes_left(problem.oracle)
        # the passes held back for scoring a fallback come back once the start is scored (base.Solver.solve)
        share_of = left + (run.hold.passes - run.hold_after_first if run.hold is not None and not run.best_known else 0)
        if need > left and init == "lazy-greedy":
            for m, r in LAZY_LADDER:  # a leaner lazy greedy that leaves a share of the budget to the search
                cost = lazy_greedy_cost(problem.t, problem.objective, m, r)
                if cost <= LAZY_LADDER_SHARE * share_of and cost <= left:
                    run.info["start"] = (
                        f"lazy greedy on the objective ({m} of largest stale gain and {r} scored longest ago a step: "
                        f"the budget left, {int(left):,} passes, is below the {need:,} of the default)"
                    )
                    run.info["start_fallback"] = True
                    return lazy_greedy_order(problem, m, r, run=run)
        if need > left:
            run.info["start"] = (
                f"single-feature order, D({{i}}) - D(all \\ {{i}}) (the budget left, {int(left):,} "
                f"passes, is below the {need:,} of {run.info['start']})"
            )
            run.info["start_fallback"] = True
            if (
                init == "greedy-lerf-prob"
                and getattr(problem.oracle, "output", None) != "prob"
                and hasattr(problem.oracle, "output_view")
            ):
                with problem.oracle.output_view("prob") as view:
                    return single_feature_order(TraceProblem(view, "le"), run)
            return single_feature_order(problem, run)
    if isinstance(init, str):
        if init == "greedy":
            return greedy_order(problem, "lerf", run, count_iterations=False)
        if init == "lazy-greedy":
            return lazy_greedy_order(problem, run=run)
        if init == "greedy-morf":
            return greedy_order(problem, "morf", run, count_iterations=False)
        if init == "greedy-lerf":
            return greedy_order(TraceProblem(problem.oracle, "le"), "lerf", run, count_iterations=False)
        if init == "greedy-lerf-prob":
            oracle = problem.oracle
            if getattr(oracle, "output", None) == "prob":
                return greedy_order(TraceProblem(oracle, "le"), "lerf", run, count_iterations=False)
            if not hasattr(oracle, "output_view"):
                raise ValueError(
                    f"init='greedy-lerf-prob' (the paper's greedy LeRF start on probabilities) needs a "
                    f"ModelOracle whose class scores can be turned into probabilities; this problem's "
                    f"oracle is a {type(oracle).__name__}: use init='greedy-lerf' (greedy LeRF on its D)"
                )
            with oracle.output_view("prob") as view:
                return greedy_order(TraceProblem(view, "le"), "lerf", run, count_iterations=False)
        if init == "random":
            return rng.permutation(problem.t).astype(np.int64)
        raise ValueError(f"init={init!r} is not valid; expected one of {list(INIT_CHOICES)} or a permutation")
    return problem.check_trajectory(init, "init")


def describe_start(init, objective: str | None = None, output: str | None = None) -> str:
    """What a start really is, in words (results and reports label every run's start with it);
    ``objective`` and ``output`` name the run's when known."""
    on = f" ({output})" if output else ""
    goal = f"the objective {objective}" if objective else "the run's objective (not the LeRF order of D)"
    if not isinstance(init, str):
        return "given permutation"
    return {
        "greedy": f"greedy on {goal}{on}",
        "lazy-greedy": f"lazy greedy on {goal}{on} ({LAZY_CANDIDATES} of largest stale gain and {LAZY_STALE} "
        "scored longest ago a step)",
        "greedy-morf": f"greedy MoRF on {goal}{on}",
        "greedy-lerf": f"greedy LeRF on D{on}",
        "greedy-lerf-prob": "greedy LeRF on softmax probabilities (the paper's start)",
        "random": "random permutation (seeded)",
    }.get(init, str(init))


#: largest window accepted (2^w sets per move)
MAX_WINDOW = 20
#: window of ``WindowDP`` when none is given (clamped to t)
DEFAULT_WINDOW = 6


def check_window_option(
    name: str, value, t: int | None = None, accepts: str = "None", maximum: int | None = MAX_WINDOW
):
    """Validate a window-width option named ``name`` (``"window"``, ``"polish_window"``,
    ``"memetic_window"``; every message names it) and return it as an int, or None for None.

    Without t (constructors): an integer in 2..``maximum`` (2^w sets per move; None: no upper bound);
    ``accepts`` lists the other values the option takes, for the message. With t (at solve time, when t
    is known): also <= t.
    """
    if value is None:
        return None
    value = check_positive_int(name, value, minimum=2, allow_none=True)
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name}={value!r} is not valid; expected 2 <= {name} <= {maximum} (2^w sets per move) or {accepts}"
        )
    if t is not None and value > t:
        raise ValueError(f"{name}={value} is larger than t={t}; expected 2 <= {name} <= t")
    return value


#: default ``polish_share``: the share of each limit (forward passes, seconds, iterations) that a solver
#: with ``polish_window`` keeps back from its main loop for the polishing step
POLISH_SHARE = 0.2


#: window of the polishing step when ``polish_window="auto"`` (clamped to t)
AUTO_POLISH_WINDOW = 6


def check_polish(polish_window, polish_share) -> tuple:
    """Constructor validation of ``polish_window`` (2..MAX_WINDOW, ``"auto"`` or None) and
    ``polish_share`` (in (0, 1))."""
    if polish_window != "auto":
        polish_window = check_window_option("polish_window", polish_window, accepts="'auto' or None")
    ok = isinstance(polish_share, numbers.Real) and not isinstance(polish_share, bool) and 0 < polish_share < 1
    if not ok:
        raise ValueError(f"polish_share={polish_share!r} is not valid; expected a number in (0, 1)")
    return polish_window, float(polish_share)


class _PolishBar:
    """Stands in for ``run.bar`` while polishing. The bar's total is the main loop's
    (``_progress_total``); polishing's window moves, whose number is not known in advance, would take
    it past 100%, so they show as a ``polish=<moves>`` postfix beside the best score instead."""

    counts_moves = True  # ``Run.tick`` hands it every move, also when the bar counts forward passes

    def __init__(self, bar):
        self.bar = bar
        self.base = getattr(bar, "postfix", None) or ""  # e.g. "best=1.234", set by ``Run.report``
        self.moves = 0
        self.shown = -np.inf  # time.monotonic() of the last redraw

    def update(self, n: int = 1) -> None:
        self.moves += n
        self._show()

    def set_postfix(self, refresh: bool = True, **kwargs) -> None:
        self.base = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(", ".join(p for p in (self.base, f"polish={self.moves}") if p), refresh=False)
        now = time.monotonic()
        if now - self.shown >= getattr(self.bar, "mininterval", 0.1):  # redraw as often as counting would
            self.shown = now
            self.bar.refresh()

    def __getattr__(self, name):  # anything else (close, set_description, ...) goes to the bar
        return getattr(self.bar, name)


class Polishing:
    """Mixin of the solvers with a ``polish_window`` option (tabu, GA, beam): the main search runs in
    ``_main(problem, run)``; ``_search`` adds the polishing step.

    With ``polish_window`` set, the main search runs under limits tightened to ``1 - polish_share`` of
    each limit of the solve (forward passes, seconds, iterations; ``Run.reserve``), so a budget that
    ends the main loop leaves the rest to polishing: exact window moves (``window_descent``) on the
    best trajectory so far, which only ever report improvements (the result stays the best seen, and
    the budget is never exceeded). When the main loop finishes within its share, polishing gets
    everything left. When the forward-pass budget ended the main loop and polishing converged with
    passes left, they go back to the main search (``_main`` is called again: a solver keeping its state
    resumes, another restarts), with the share kept again, until a round spends no pass, so a solve
    spends its budget. ``Result.stopped`` keeps the main loop's reason ("budget", "time", "iterations")
    if a limit ended it; ``Result.info["polish_forward_passes"]`` counts polishing's passes,
    ``["resumed_forward_passes"]`` the main search's after the first round and ``["rounds"]`` the rounds.
    Polishing's window moves count as iterations (``Result.iterations``, the iteration limit) but not on
    the progress bar, whose total is the main loop's: they show in its postfix (``polish=<moves>``).
    """

    polish_window: int | str | None = None
    polish_share: float = POLISH_SHARE

    def _polish_window(self, t: int) -> int | None:
        """The polishing window for t features (``"auto"``: ``min(AUTO_POLISH_WINDOW, t)``)."""
        return min(AUTO_POLISH_WINDOW, t) if self.polish_window == "auto" else self.polish_window

    def _check_windows(self, t: int) -> None:
        """Check every window option against t before any forward pass (subclasses add theirs)."""
        check_window_option("polish_window", self._polish_window(t), t)

    def _search(self, problem, run):
        self._check_windows(problem.t)
        window = self._polish_window(problem.t)
        if window is None:
            self._main(problem, run)
            return
        run.info["polish_forward_passes"] = 0
        run.info["resumed_forward_passes"] = 0
        rounds = 0
        while True:  # a round: the main search under its share, then polishing
            run.info["rounds"] = rounds + 1
            passes = run.passes_used
            with run.reserve(self.polish_share):
                self._main(problem, run)
            if rounds:
                run.info["resumed_forward_passes"] += run.passes_used - passes
            main_stopped, run.stopped = run.stopped, None
            self._polish(problem, run, window)
            rounds += 1
            # polishing converged: forward passes left go back to the main search (``_main`` again), unless
            # it ended on its own or this round spent nothing (its next step costs more than is left)
            if main_stopped != "budget" or run.passes_used == passes:
                run.stopped = main_stopped
                break

    def _polish(self, problem, run, window: int) -> None:
        passes = run.passes_used
        if run.best_sigma is None:  # stopped before any trajectory existed
            run.best_sigma = np.arange(problem.t, dtype=np.int64)
        bar, run.bar = run.bar, _PolishBar(run.bar)
        try:
            window_descent(problem, run.best_sigma, window, run=run)
        finally:
            run.bar = bar
            run.info["polish_forward_passes"] += run.passes_used - passes

    def _main(self, problem, run):  # pragma: no cover - abstract
        raise NotImplementedError


def window_move(problem, sigma: np.ndarray, chain: np.ndarray, a: int, w: int):
    """The best reordering of ``sigma[a:a+w]``: returns ``(new_sigma, new_chain, delta)``.

    ``chain`` holds ``c(P_k)`` of ``sigma`` (k = 0..t); ``delta >= 0`` up to rounding (the current order
    is one of the candidates). ``new_chain`` is ``chain`` with ``k = a+1..a+w-1`` replaced.
    """
    t = problem.t
    win = sigma[a : a + w]
    n = 1 << w
    masks = np.zeros((n, t), dtype=bool)
    masks[:, sigma[:a]] = True
    local = ((np.arange(n)[:, None] >> np.arange(w)[None, :]) & 1).astype(bool)
    masks[:, win] = local
    c = problem.c_values(masks)
    order, best = kernels.chain_dp(c)
    new_sigma = sigma.copy()
    new_sigma[a : a + w] = win[order]
    keys = prefix_bitmasks(order)[1:]  # local keys of the new P_(a+1)..P_(a+w)
    new_chain = chain.copy()
    new_chain[a + 1 : a + w] = c[keys[:-1]]
    delta = float(best) - float(chain[a : a + w + 1].sum())
    return new_sigma, new_chain, delta


def window_starts(t: int, w: int, stride: int) -> list[int]:
    """Window start positions of one sweep: 0, stride, ..., always ending with t - w."""
    starts = list(range(0, t - w + 1, stride))
    if starts[-1] != t - w:
        starts.append(t - w)
    return starts


def window_descent(
    problem,
    sigma,
    window: int,
    stride: int | None = None,
    chain=None,
    run: Run | None = None,
    max_sweeps: int | None = None,
):
    """Sweep exact window moves over sigma until no window improves (or ``max_sweeps``).

    Returns ``(sigma, chain)`` of a window-optimal trajectory (no reordering of any swept window
    improves it). With a ``run``, each window move is an iteration and improvements are reported.
    Usable as the polishing step of any solver.
    """
    t = problem.t
    window = check_positive_int("window", window, minimum=2)  # a width is needed: None is refused
    check_window_option("window", window, t, maximum=None)
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


def insertion_move(problem, sigma: np.ndarray, chain: np.ndarray, i: int, radius: int | None = None):
    """The best re-insertion of the feature at position ``i`` of sigma at a position j with ``|j - i| <= radius``
    (None: anywhere): returns ``(new_sigma, new_chain, delta)`` (``delta`` 0 and sigma itself when no position
    is better).

    Moving f = sigma[i] to j < i changes only the prefix sets ``P_(j+1)..P_i``, each to ``P_(k-1) + {f}``; moving
    it to j > i changes ``P_(i+1)..P_j``, each to ``P_(k+1) - {f}``. So one oracle batch of at most 2 radius sets
    (``P_i`` itself is known) gives the exact value of every target, by cumulative sums of the changes: a long
    move of one feature, which a window move cannot make, at the cost of about two window sets per position.
    """
    t = problem.t
    r = t if radius is None else radius
    f = int(sigma[i])
    lo, hi = max(0, i - r), min(t - 1, i + r)
    prefix = prefix_masks_of(sigma, t)
    back = prefix[lo:i].copy()  # P_m + {f}, m = lo..i-1: the new P_(m+1) when f moves to any j <= m
    back[:, f] = True
    fwd = prefix[i + 2 : hi + 2].copy()  # P_m - {f}, m = i+2..hi+1: the new P_(m-1) when f moves to any j >= m-1
    fwd[:, f] = False
    c = problem.c_values(np.concatenate([back, fwd]))
    cb, cf = c[: len(back)], c[len(back) :]
    # j < i: delta(j) = sum_{k=j+1..i} c(P_(k-1) + f) - c(P_k) = sum over m = j..i-1 of cb[m - lo] - chain[m + 1]
    gain_b = cb - chain[lo + 1 : i + 1]
    delta_b = np.cumsum(gain_b[::-1])[::-1]  # delta_b[j - lo]
    # j > i: delta(j) = sum_{k=i+1..j} c(P_(k+1) - f) - c(P_k) = sum over k of cf[k - i - 1] - chain[k]
    gain_f = cf - chain[i + 1 : hi + 1]
    delta_f = np.cumsum(gain_f)  # delta_f[j - i - 1]
    deltas = np.concatenate([delta_b, [0.0], delta_f])
    k = int(np.argmax(deltas))  # ties: the farthest-back target (the first maximum), the current position before later
    j = lo + k
    best = float(deltas[k])
    if j == i or best <= 0:
        return sigma, chain, 0.0
    rest = np.delete(sigma, i)
    new_sigma = np.insert(rest, j, f).astype(np.int64)
    new_chain = chain.copy()
    if j < i:
        new_chain[j + 1 : i + 1] = cb[j - lo :]
    else:
        new_chain[i + 1 : j + 1] = cf[: j - i]
    return new_sigma, new_chain, best


def prefix_masks_of(sigma: np.ndarray, t: int) -> np.ndarray:
    """The prefix sets ``P_0..P_t`` of sigma as a (t + 1, t) bool array."""
    masks = np.zeros((t + 1, t), dtype=bool)
    rank = np.empty(t, dtype=np.int64)
    rank[np.asarray(sigma, dtype=np.int64)] = np.arange(t)
    masks[:, :] = rank[None, :] < np.arange(t + 1)[:, None]
    return masks


def insertion_descent(problem, sigma, chain=None, radius: int | None = None, run: Run | None = None, order=None):
    """One sweep of ``insertion_move`` over the features (in ``order``, default their order in sigma), each moved
    to its best position when that improves. Returns ``(sigma, chain, improved)``.

    Not used by a registered solver: alternated with window descents in ``ils`` (start, tail, then window and
    insertion sweeps until neither improves) it gave 0.948-0.949 of the best known on chelsea at 5,000 passes against
    ils's 0.951 (bench/results/imagenet_search_frontier.md)."""
    sigma = np.array(sigma, dtype=np.int64)
    chain = problem.chain(sigma) if chain is None else np.array(chain, dtype=np.float64)
    score = float(chain.sum())
    improved = False
    for f in list(sigma) if order is None else order:
        if run is not None:
            run.tick()
        i = int(np.flatnonzero(sigma == f)[0])
        new_sigma, new_chain, delta = insertion_move(problem, sigma, chain, i, radius)
        if delta > 1e-12 * (1.0 + abs(score)):
            sigma, chain = new_sigma, new_chain
            score = float(chain.sum())
            improved = True
            if run is not None:
                run.report(sigma, score)
    return sigma, chain, improved
