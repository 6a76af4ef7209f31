"""The solver interface, budgets, results and the registry by name.

Every solver maximises ``problem.score`` (a chain sum, DESIGN.md section 2) and reaches the model
only through the problem's oracle. Budgets count **forward passes** (unique masked inputs the model
saw during this solve), with optional seconds and iterations. On budget exhaustion or Ctrl-C a
solver stops cleanly and returns its best trajectory so far (inside ``trace_opt.core.io.stop_on_interrupt()``,
as in batch commands, Ctrl-C propagates instead).
"""

from __future__ import annotations

import inspect
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from trace_opt.core.budget import Budget, BudgetExhausted, Limits, as_budget
from trace_opt.core.io import interrupts_stop_the_run, json_values
from trace_opt.core.problem import Curves, TraceProblem
from trace_opt.core.registry import Registry
from trace_opt.core.validation import check_keywords, check_positive_int

SOLVERS: Registry = Registry("solver")


def register(name: str, overwrite: bool = False):
    """Class decorator: make a solver available to ``get_solver(name)`` (a name already registered is refused
    unless ``overwrite=True``, the rule of every registry, ``trace_opt.core.registry``)."""
    return SOLVERS.decorator(name, overwrite=overwrite)


def available_solvers() -> list[str]:
    return sorted(SOLVERS)


def get_solver(name, **params) -> "Solver":
    """Instantiate a registered solver by name with its hyperparameters."""
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
    """What a solve returns. ``score`` is the maximised objective; ``value`` is in the paper's sign."""

    trajectory: np.ndarray
    score: float
    objective: str
    value: float
    curves: Curves | None  # None when solve(..., curves=False)
    history: list  # [(forward passes used, best score)], one entry per improvement
    forward_passes: int  # made during the search (what the budget counts)
    evaluation_forward_passes: int  # extra passes to draw the final curves (outside the budget)
    batches: int
    cache_hits: int
    iterations: int
    seconds: float
    stopped: str  # "completed", "budget", "time", "iterations" or "interrupted"
    solver: str
    params: dict = field(default_factory=dict)  # hyperparameters, with values resolved at solve time
    seed: int | None = None
    info: dict = field(default_factory=dict)  # facts of this solve (e.g. SA's T0 rule, a memory estimate)

    def to_dict(self) -> dict:
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
        shown = {} if self.best_sigma is None or not self.best_known else {"best": f"{self.best_score:.4g}"}
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
    def reserve(self, share: float):
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


class Solver:
    """Base class. Constructors store hyperparameters (validated there, scikit-learn style);
    ``solve`` runs the search. Subclasses implement ``_search(problem, run)`` and may declare
    ``_progress_total(problem)``."""

    name = "solver"

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def _progress_total(self, problem: TraceProblem) -> int | None:
        return None

    def check_size(self, t: int) -> None:
        """Refuse, before any model call, a problem of ``t`` features this solver cannot take (a ValueError
        saying what to use instead); a data-set run calls it once for all inputs. Default: any t."""

    def solve(
        self, problem: TraceProblem, budget=None, seed: int | None = 0, progress: bool = False, curves: bool = True
    ) -> Result:
        """Search for the best trajectory of ``problem`` within ``budget``.

        budget: forward passes (int), a dict/``Budget`` with forward_passes, seconds, iterations, or
        None. seed: seeds the solver's random generator (runs are reproducible). curves: draw the
        final trajectory's four curves (extra passes, counted apart from the budget).
        """
        if not isinstance(problem, TraceProblem):
            raise ValueError(f"problem must be a TraceProblem; got {type(problem).__name__}")
        budget = as_budget(budget)
        if seed is not None and not isinstance(seed, np.random.Generator):
            check_positive_int("seed", seed, minimum=0)
        rng = np.random.default_rng(seed)
        oracle = problem.oracle
        run = Run(problem, budget, rng, progress, self._progress_total(problem), desc=self.name)
        batches0, hits0 = oracle.batches, oracle.cache_hits
        stopped = "completed"
        # the solve's limits hold for its length only; a solve nested in another's search can only tighten them
        try:
            with oracle.limited(Limits.of_budget(budget, oracle.forward_passes, run.start_time)):
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

    def _search(self, problem: TraceProblem, run: Run) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
