"""Simulated annealing over trajectories, as in the paper, with incremental evaluation."""
from __future__ import annotations

import math

import numpy as np

from neighbourhoods import get_neighbourhood
from trace_opt._validation import check_positive_float, check_positive_int

from .base import Run, Solver, register
from .greedy import greedy_order


INIT_CHOICES = ("greedy", "greedy-morf", "random")


def initial_trajectory(problem, init, rng: np.random.Generator, run: Run | None = None) -> np.ndarray:
    """``"greedy"`` (greedy LeRF), ``"greedy-morf"``, ``"random"`` (seeded) or a given permutation.

    With a ``run``, a greedy start stopped by the budget leaves its partial order as the fallback
    result; its steps are not counted as iterations (those are the solver's own).
    """
    if isinstance(init, str):
        if init == "greedy":
            return greedy_order(problem, "lerf", run, count_iterations=False)
        if init == "greedy-morf":
            return greedy_order(problem, "morf", run, count_iterations=False)
        if init == "random":
            return rng.permutation(problem.t).astype(np.int64)
        raise ValueError(f"init={init!r} is not valid; expected 'greedy', 'greedy-morf', 'random' or a permutation")
    return problem.check_trajectory(init, "init")


def default_temperature(problem) -> float:
    """Paper's T0: 2 for logits (and log-probabilities), f(x)/10 for probabilities."""
    if getattr(problem.oracle, "output", "logit") == "prob":
        return max(problem.oracle.value_full_input / 10.0, 1e-12)
    return 2.0


@register("sa")
class SimulatedAnnealing(Solver):
    """Simulated annealing (Kirkpatrick et al.; the paper's algorithm 1).

    Parameters
    ----------
    iterations : K, proposals in total (paper: 10,000).
    T0 : initial temperature in score units; None uses the paper's rule (``default_temperature``).
    eta : geometric cooling per iteration, ``T <- eta * T`` (paper: 0.999).
    init : ``"greedy"`` (paper's default: greedy LeRF), ``"greedy-morf"``, ``"random"`` or a permutation.
    threshold_temperature : stop early once T falls below this value (None: run all K iterations).
    neighbourhood : name or ``Neighbourhood`` (paper: ``"complete"`` transpositions).

    Each proposal changes only positions lo..hi, so only the prefix sets between them are evaluated
    (DESIGN.md section 3); repeated sets come from the oracle's cache. A worse move is accepted with
    probability ``exp(delta / T)`` (Metropolis). One uniform draw is made per iteration whether or not
    it is needed, so the random stream, and hence the trajectory, does not depend on caching.
    """

    def __init__(self, iterations: int = 10_000, T0: float | None = None, eta: float = 0.999,
                 init="greedy", threshold_temperature: float | None = None, neighbourhood="complete"):
        self.iterations = check_positive_int("iterations", iterations)
        self.T0 = check_positive_float("T0", T0, allow_none=True)
        eta = check_positive_float("eta", eta)
        if eta > 1:
            raise ValueError(f"eta={eta!r} is not valid; expected a cooling factor in (0, 1]")
        self.eta = eta
        if isinstance(init, str) and init not in INIT_CHOICES:
            raise ValueError(f"init={init!r} is not valid; expected one of {list(INIT_CHOICES)} or a permutation")
        self.init = init
        self.threshold_temperature = check_positive_float("threshold_temperature", threshold_temperature,
                                                          allow_none=True)
        self.neighbourhood = neighbourhood

    def _progress_total(self, problem):
        return self.iterations

    def _search(self, problem, run):
        rng = run.rng
        nb = get_neighbourhood(self.neighbourhood, problem.t)
        T = self.T0 if self.T0 is not None else default_temperature(problem)
        sigma = initial_trajectory(problem, self.init, rng, run)
        chain = problem.chain(sigma)
        score = float(chain.sum())
        run.report(sigma, score)
        for _ in range(self.iterations):
            run.tick()
            new, lo, hi = nb.propose(sigma, rng)
            u = rng.random()
            delta, segment = problem.move_delta(sigma, chain, new, lo, hi)
            if delta >= 0 or u < math.exp(delta / T):
                sigma = new
                chain[lo + 1:hi + 1] = segment
                score += delta
                if score > run.best_score:
                    score = float(chain.sum())  # re-sum to keep float drift out of the record
                    run.report(sigma, score)
            T *= self.eta
            if self.threshold_temperature is not None and T < self.threshold_temperature:
                break
