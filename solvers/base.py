"""The solver interface, budgets, results and the registry by name.

Every solver maximises ``problem.score`` (a chain sum, DESIGN.md section 2) and reaches the model
only through the problem's oracle. Budgets count **forward passes** (unique masked inputs the model
saw during this solve), with optional seconds and iterations. On budget exhaustion or Ctrl-C a
solver stops cleanly and returns its best trajectory so far (inside ``trace_opt.core.io.stop_on_interrupt()``,
as in batch commands, Ctrl-C propagates instead).
"""

from __future__ import annotations

import abc
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from tqdm.auto import tqdm

from trace_opt.core.budget import Budget, BudgetExhausted, BudgetLike, Limits, PassHold, as_budget
from trace_opt.core.io import interrupts_stop_the_run, json_values
from trace_opt.core.problem import Curves, TraceProblem
from trace_opt.core.registry import Registry
from trace_opt.core.validation import check_keywords, check_positive_int

SOLVERS: Registry = Registry("solver")

SolverType = TypeVar("SolverType", bound="type[Solver]")


def final_scoring_passes(problem: TraceProblem, curves: bool = True) -> tuple[int, int]:
    """``(first, after_first)``: at most how many forward passes scoring a trajectory takes (its chain: t + 1
    sets for ``le`` or ``mo``, 2t for ``le-mo``), and how many more its four curves take once a scored
    trajectory's sets are cached (the other chain: t - 1 for ``le`` or ``mo``; 2t without a cache)."""
    t = problem.t
    first = 2 * t if problem.objective == "le-mo" else t + 1
    if not curves:
        return first, 0
    if not problem.oracle.use_cache:
        return first, 2 * t
    return first, 2 * t - first


def _check_scoring_budget(problem: TraceProblem, budget: Budget, curves: bool) -> tuple[int, int]:
    """``final_scoring_passes``, after refusing a pass budget too small to score one trajectory (and draw its
    curves): a ValueError naming the smallest budget."""
    first, after_first = final_scoring_passes(problem, curves)
    if budget.forward_passes is not None and budget.forward_passes < first + after_first:
        raise ValueError(
            f"budget={budget.forward_passes} forward passes cannot even score one trajectory at "
            f"t={problem.t} ({problem.objective}: {first} passes"
            + (f", and {after_first} more for its curves" if after_first else "")
            + f"); the smallest budget is {first + after_first}"
        )
    return first, after_first


def register(name: str, overwrite: bool = False) -> Callable[[SolverType], SolverType]:
    """Class decorator: make a ``Solver`` subclass available to ``get_solver(name)`` and set its ``name``
    (shown in ``Result.solver`` and the progress bar). A name already registered is refused unless
    ``overwrite=True``, the rule of every registry (``trace_opt.core.registry``)."""
    return SOLVERS.decorator(name, overwrite=overwrite)


def available_solvers() -> list[str]:
    """The names ``get_solver`` accepts, sorted."""
    return sorted(SOLVERS)


def get_solver(name: str | Solver, **params: Any) -> Solver:
    """Instantiate a registered solver by name with its hyperparameters (the keywords of its constructor;
    an unknown keyword is a ValueError listing the accepted ones). A ``Solver`` instance is returned as it is
    (then ``params`` must be empty)."""
    if isinstance(name, Solver):
        if params:
            raise ValueError(
                f"solver options {sorted(params)} were given with a Solver instance; set them in "
                "its constructor, or pass the solver's name"
            )
        return name
    SOLVERS.lookup(name)  # an unknown name: a ValueError listing the registered ones
    accepted = inspect.signature(SOLVERS[name].__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        check_keywords(f"solver_options of solver={name!r}", params, [n for n in accepted if n != "self"])
    return SOLVERS[name](**params)


@dataclass
class Result:
    """What a solve returns: the best trajectory found, its score, the final curves and the solve's counters.

    ``score`` is the maximised objective (``problem.score(trajectory)``); ``value`` is the same in the paper's
    sign (``TraceProblem.to_paper_units``: AUC-Mo for ``mo``, lower is better). ``to_dict`` gives JSON values.
    """

    trajectory: np.ndarray  # int64, least important feature first
    score: float
    objective: str  # "le", "mo" or "le-mo"
    value: float
    curves: Curves | None  # None when solve(..., curves=False)
    history: list[tuple[int, float]]  # [(forward passes used, best score)], one entry per improvement
    forward_passes: int  # made during the search (what the budget counts)
    evaluation_forward_passes: int  # passes of the final scoring and curves (within the budget, held back for them)
    batches: int
    cache_hits: int
    iterations: int
    seconds: float
    stopped: str  # "completed", "budget", "time", "iterations" or "interrupted"
    solver: str
    params: dict[str, Any] = field(default_factory=dict)  # hyperparameters, with values resolved at solve time
    seed: int | np.random.Generator | None = None  # as given to ``solve``
    info: dict[str, Any] = field(default_factory=dict)  # facts of this solve (e.g. SA's T0 rule, a memory estimate)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON values (the trajectory and curves as lists)."""
        return {
            "solver": self.solver,
            "params": json_values(self.params),
            "seed": json_values(self.seed),
            "objective": self.objective,
            "trajectory": self.trajectory.tolist(),
            "score": self.score,
            "value": self.value,
            "curves": None if self.curves is None else self.curves.to_dict(),
            "history": [[int(f), float(s)] for f, s in self.history],
            "forward_passes": self.forward_passes,
            "evaluation_forward_passes": self.evaluation_forward_passes,
            "batches": self.batches,
            "cache_hits": self.cache_hits,
            "iterations": self.iterations,
            "seconds": self.seconds,
            "stopped": self.stopped,
            "info": json_values(self.info),
        }


class _Stop(Exception):
    def __init__(self, reason: str):
        self.reason = reason


class Run:
    """Book-keeping of one solve, handed to ``Solver._search``: best-so-far, history, limits, progress.

    ``info`` collects facts of the solve for ``Result.info``; ``resolved`` holds hyperparameters
    resolved at solve time (e.g. SA's ``T0`` when it was None), shown in ``Result.params``.
    """

    def __init__(
        self,
        problem: TraceProblem,
        budget: Budget,
        rng: np.random.Generator,
        progress: bool,
        total: int | None,
        desc: str,
    ):
        self.problem = problem
        self.budget = budget
        self.rng = rng
        self.oracle = problem.oracle
        self.start_passes = self.oracle.forward_passes
        self.start_time = time.monotonic()
        self.iterations = 0
        #: iteration count and ``time.monotonic()`` value at which ``tick`` stops the search
        self.iteration_limit = budget.iterations
        self.deadline = None if budget.seconds is None else self.start_time + budget.seconds
        self.best_sigma: np.ndarray | None = None
        self.best_score = -np.inf
        self.best_known = False  # False while best_sigma is a fallback with an unknown score
        #: passes held back from the search for the final scoring (``Solver.solve`` sets it)
        self.hold: PassHold | None = None
        self.hold_after_first = 0
        self.history: list[tuple[int, float]] = []
        self.info: dict = {}
        self.resolved: dict = {}
        self.stopped: str | None = None  # why a phase run under ``reserve`` ended early, if it did
        self.state: dict = {}  # a solver's search state, kept between the phases of this solve
        # The bar moves with forward passes (the oracle reports each model call as it ends): with a pass
        # budget it counts passes against it; otherwise it counts the solver's iterations against
        # ``total`` and shows the passes in its postfix.
        self.pass_bar = budget.forward_passes is not None
        self.bar = tqdm(
            total=budget.forward_passes if self.pass_bar else total,
            desc=desc,
            disable=not progress,
            leave=False,
            dynamic_ncols=True,
            unit="pass" if self.pass_bar else "it",
        )
        self._attached = progress
        if progress:  # an oracle without the hook (a duck-typed one) just gets no pass updates
            self._saved_on_passes = getattr(self.oracle, "on_passes", None)
            self.oracle.on_passes = self._on_passes

    def _on_passes(self, n: int) -> None:
        if self.pass_bar:
            self.bar.update(n)
        else:
            self._show()

    def _show(self) -> None:
        shown: dict[str, Any] = (
            {} if self.best_sigma is None or not self.best_known else {"best": f"{self.best_score:.4g}"}
        )
        if not self.pass_bar:
            shown["passes"] = self.passes_used
        self.bar.set_postfix(refresh=False, **shown)

    def close(self) -> None:
        """Close the bar and detach it from the oracle."""
        if self._attached:
            self.oracle.on_passes = self._saved_on_passes
        self.bar.close()

    @property
    def passes_used(self) -> int:
        return self.oracle.forward_passes - self.start_passes

    def report(self, sigma: np.ndarray, score: float) -> bool:
        """Offer a fully evaluated trajectory; keep it if it beats the best. Returns True if kept."""
        if score > self.best_score or not self.best_known:
            self.best_sigma = np.array(sigma, dtype=np.int64, copy=True)
            self.best_score = float(score)
            if not self.best_known and self.hold is not None:  # its sets are cached: release that share
                self.hold.passes = self.hold_after_first
            self.best_known = True
            self.history.append((self.passes_used, self.best_score))
            self._show()
            return True
        return False

    def fallback(self, sigma: np.ndarray) -> None:
        """Offer a trajectory whose score is not known yet (e.g. a partial greedy order completed).

        It replaces an earlier fallback (a later one carries more of the search's progress) but never
        a fully evaluated best."""
        if not self.best_known:
            self.best_sigma = np.array(sigma, dtype=np.int64, copy=True)

    def tick(self, n: int = 1) -> None:
        """Count ``n`` iterations; raise a stop when the iteration or time limit is reached."""
        if self.iteration_limit is not None and self.iterations + n > self.iteration_limit:
            raise _Stop("iterations")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop("time")
        self.iterations += n
        if not self.pass_bar or getattr(self.bar, "counts_moves", False):
            self.bar.update(n)

    @contextmanager
    def reserve(self, share: float) -> Iterator[None]:
        """Run a phase of the search under tightened limits, keeping ``share`` of what is left of each
        limit (forward passes, seconds, iterations; the oracle's limits, which include any enclosing
        solve's) for what follows the block, e.g. a polishing step.

        A stop caused inside the block by a limit (budget, time, iterations) ends the block quietly: the
        reason is kept in ``self.stopped`` and the original limits are restored, so the next phase runs
        on the rest. Ctrl-C and errors propagate. Without limits the block runs unrestricted.
        """
        oracle = self.oracle
        saved = (self.iteration_limit, self.deadline)
        keep = 1.0 - float(share)
        now = time.monotonic()
        if self.deadline is not None:
            self.deadline = now + max(0.0, self.deadline - now) * keep
        if self.iteration_limit is not None:
            self.iteration_limit = self.iterations + int(max(0, self.iteration_limit - self.iterations) * keep)
        try:
            with oracle.limited(oracle.limits.reserve(share, oracle.forward_passes, now)):
                yield
        except BudgetExhausted as exc:
            self.stopped = exc.reason
        except _Stop as stop:
            self.stopped = stop.reason
        finally:
            self.iteration_limit, self.deadline = saved


class Solver(abc.ABC):
    """Base class of the solvers: a search for the trajectory that maximises ``problem.score``.

    **To add a solver**, subclass ``Solver``, implement the one abstract method ``_search(problem, run)``
    (its docstring is the contract) and register the class with ``@register(name)``; ``get_solver(name,
    **options)`` then builds it, and every command that takes ``--solver`` / ``--solver-options`` accepts it.

    * The constructor takes the hyperparameters as keywords with defaults, validates each one there
      (a ValueError naming the option and what is expected: ``trace_opt.core.validation``) and stores it
      under its own name (``get_params`` reports the attributes not starting with ``_``, ``Result.params``
      shows them). It makes no model call and keeps no state of a solve: one instance may solve many problems.
    * ``solve`` (not to be overridden) checks the arguments, installs the budget on the oracle, builds the
      ``Run`` of the solve (best-so-far, history, limits, progress bar, the seeded ``rng``), calls ``_search``,
      turns a stop (budget, time, iterations, Ctrl-C) into ``Result.stopped`` and draws the final curves.
    * Optional hooks: ``check_size(t)`` refuses, before any model call, a problem this solver cannot take;
      ``_progress_total(problem)`` gives the progress bar's total (iterations) when the budget has no
      forward-pass limit.

    A minimal solver, random restarts (the best of ``restarts`` random orders scored in batches)::

        import numpy as np

        from solvers import Solver, get_solver, register
        from trace_opt.core.validation import check_positive_int


        @register("random-restarts")
        class RandomRestarts(Solver):
            # the best of `restarts` uniformly random orders, scored `batch` at a time

            def __init__(self, restarts: int = 1000, batch: int = 64):
                self.restarts = check_positive_int("restarts", restarts)
                self.batch = check_positive_int("batch", batch)

            def _search(self, problem, run):
                for start in range(0, self.restarts, self.batch):
                    run.tick()  # one iteration per batch: the iteration and time limits
                    n = min(self.batch, self.restarts - start)
                    sigmas = np.stack([run.rng.permutation(problem.t) for _ in range(n)])
                    scores = problem.scores(sigmas)  # model calls: BudgetExhausted ends the solve here
                    best = int(np.argmax(scores))
                    run.report(sigmas[best], scores[best])


        result = get_solver("random-restarts", restarts=200).solve(problem, budget=5000, seed=0)

    (``tests/test_solvers_core.py`` runs this example.) The built-in solvers are longer versions of the same
    pattern: ``solvers/exact.py`` (one phase), ``solvers/beam.py`` and ``solvers/tabu.py`` (through the
    ``_common.Polishing`` mixin, which implements ``_search`` as a main search plus exact window moves).
    """

    name = "solver"

    @abc.abstractmethod
    def _search(self, problem: TraceProblem, run: Run) -> None:
        """Search ``problem`` for high-scoring trajectories and report them to ``run``: THE method to implement.

        Called once per ``solve``, inside the budget's limits. Despite the leading underscore this is the
        plug-in point (the name is kept for the solvers that implement it); it is called only by ``solve``.

        Args:
            problem: the ``TraceProblem`` to maximise: ``problem.t`` features, ``problem.score(sigma)`` /
                ``problem.scores(sigmas)`` / ``problem.chain(sigma)`` (model calls through the oracle, cached),
                ``problem.move_deltas`` for the change of local moves (only the changed prefix sets are
                evaluated), ``problem.oracle`` for its counters and cache. The only way to the model.
            run: the book-keeping of this solve (``Run``): ``run.rng``, the solve's seeded
                ``np.random.Generator`` (the only randomness to use, so a seed reproduces the solve);
                ``run.budget``, the ``Budget`` (forward passes, seconds, iterations; for sizing, the limits are
                enforced by the oracle and ``tick``); ``run.report``, ``run.fallback``, ``run.tick``,
                ``run.reserve``, ``run.info``, ``run.resolved``, ``run.state`` and ``run.bar`` (see ``Run``).

        What it must do:
            * Offer every fully scored trajectory that may be the best so far to ``run.report(sigma, score)``
              (``score`` as ``problem.score`` computes it); ``run.report`` keeps the best and its history.
              A trajectory whose score is not known yet (a partial order completed) goes to ``run.fallback``.
            * Call ``run.tick(n)`` for every ``n`` iterations (its unit is the solver's main step; it raises the
              stop of the iteration and time limits, and moves the progress bar).
            * Let the stops propagate: the oracle raises ``BudgetExhausted`` for a request past the forward-pass
              or time limit (nothing of that request is evaluated), ``tick`` raises its own stop, and Ctrl-C is
              ``KeyboardInterrupt``; ``solve`` catches each and returns the best reported so far. Never catch
              them (``run.reserve`` is the way to end one phase and start another on what is left).
            * Return when the search is finished (converged, or its own iteration count done): with no budget a
              search must end on its own.
            * Use only ``run.rng`` for randomness and make no model call outside ``problem`` / its oracle.

        Returns:
            None. The result is what was reported to ``run``; ``solve`` builds the ``Result`` from it (a solve
            stopped before any report returns the identity order, ``Result.info["identity_fallback"]``).
        """
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters: the instance attributes whose name does not start with ``_``."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def _progress_total(self, problem: TraceProblem) -> int | None:
        """The progress bar's total in iterations (shown when the budget has no forward-pass limit); None: unknown."""
        return None

    def check_size(self, t: int) -> None:
        """Refuse, before any model call, a problem of ``t`` features this solver cannot take (a ValueError
        saying what to use instead); a data-set run calls it once for all inputs. Default: any t."""

    def solve(
        self,
        problem: TraceProblem,
        budget: BudgetLike = None,
        seed: int | np.random.Generator | None = 0,
        progress: bool = False,
        curves: bool = True,
    ) -> Result:
        """Search for the best trajectory of ``problem`` within ``budget``.

        budget: forward passes (int), a dict/``Budget`` with forward_passes, seconds, iterations, or
        None. seed: seeds the solver's random generator (runs are reproducible). progress: show a progress
        bar. curves: draw the final trajectory's four curves. A pass budget bounds
        the whole call: the final scoring and curves are held back from the search (``final_scoring_passes``),
        and a budget below them is refused (ValueError naming the smallest budget).
        """
        if not isinstance(problem, TraceProblem):
            raise ValueError(f"problem must be a TraceProblem; got {type(problem).__name__}")
        budget = as_budget(budget)
        if seed is not None and not isinstance(seed, np.random.Generator):
            check_positive_int("seed", seed, minimum=0)
        rng = np.random.default_rng(seed)
        oracle = problem.oracle
        first, after_first = _check_scoring_budget(problem, budget, curves)
        run = Run(problem, budget, rng, progress, self._progress_total(problem), desc=self.name)
        # the search runs with the final scoring's passes held back, so a budget bounds the whole call:
        # scoring a not yet scored fallback until a trajectory is scored, the curves' extra sets after
        run.hold = PassHold(first + after_first)
        run.hold_after_first = after_first
        batches0, hits0 = oracle.batches, oracle.cache_hits
        stopped = "completed"
        # the solve's limits hold for its length only; a solve nested in another's search can only tighten them
        limits = Limits.of_budget(budget, oracle.forward_passes, run.start_time)
        try:
            with oracle.limited(Limits(limits.forward_passes, limits.deadline, run.hold)):
                self._search(problem, run)
            stopped = run.stopped or "completed"  # a phase stopped by a limit, then the search finished
        except BudgetExhausted as exc:
            stopped = exc.reason
        except _Stop as stop:
            stopped = stop.reason
        except KeyboardInterrupt:
            if interrupts_stop_the_run():  # a batch command: nothing cut short is returned (trace_opt.core.io)
                raise
            stopped = "interrupted"
        finally:
            run.close()
        seconds = time.monotonic() - run.start_time
        search_passes = run.passes_used
        batches, hits = oracle.batches - batches0, oracle.cache_hits - hits0
        if run.best_sigma is None:  # stopped before any trajectory existed: fall back to identity
            run.best_sigma = np.arange(problem.t, dtype=np.int64)
            run.info["identity_fallback"] = True  # the search never ran (explain warns)
        if not run.best_known:
            run.best_score = problem.score(run.best_sigma)
        result_curves = problem.curves(run.best_sigma) if curves else None
        return Result(
            trajectory=run.best_sigma,
            score=run.best_score,
            objective=problem.objective,
            value=problem.to_paper_units(run.best_score),
            curves=result_curves,
            history=run.history,
            forward_passes=search_passes,
            evaluation_forward_passes=oracle.forward_passes - run.start_passes - search_passes,
            batches=batches,
            cache_hits=hits,
            iterations=run.iterations,
            seconds=seconds,
            stopped=stopped,
            solver=self.name,
            params={**self.get_params(), **run.resolved},
            seed=seed,
            info=dict(run.info),
        )
