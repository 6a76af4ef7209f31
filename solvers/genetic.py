"""A genetic algorithm on permutations: tournament selection, OX/PMX crossover, swap/inversion
mutation, elitism, an optional memetic window step; each generation's children are scored in one
oracle batch (``problem.scores``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from trace_opt.core.problem import TraceProblem
from trace_opt.core.validation import check_choice, check_positive_float, check_positive_int

from ._common import (
    POLISH_SHARE,
    Polishing,
    check_polish,
    check_window_option,
    greedy_cost,
    passes_left,
    single_feature_order,
    window_descent,
)
from .base import Run, Solver, _Stop, register
from .greedy import greedy_order

SEED_NAMES = ("greedy", "greedy-morf")
#: window of the memetic step when ``memetic_window="auto"`` (clamped to t)
AUTO_MEMETIC_WINDOW = 5


def order_crossover(p1: np.ndarray, p2: np.ndarray, i: int, j: int) -> np.ndarray:
    """OX (Davis): the child keeps ``p1[i:j]`` in place; the other positions, from j onward
    (wrapping), take the remaining features in the order they appear in p2 from position j onward."""
    t = len(p1)
    child = np.full(t, -1, dtype=np.int64)
    child[i:j] = p1[i:j]
    used = np.zeros(t, dtype=bool)
    used[p1[i:j]] = True
    order = np.roll(p2, -j)
    fill = order[~used[order]]
    positions = np.roll(np.arange(t), -j)
    positions = positions[(positions < i) | (positions >= j)]
    child[positions] = fill
    return child


def pmx_crossover(p1: np.ndarray, p2: np.ndarray, i: int, j: int) -> np.ndarray:
    """PMX (Goldberg & Lingle): the child keeps ``p1[i:j]`` in place; every other position takes p2's
    feature, following the mapping p1[k] -> p2[k] of the segment when that feature is already used."""
    t = len(p1)
    child = p2.copy()
    child[i:j] = p1[i:j]
    pos_in_p1 = np.empty(t, dtype=np.int64)
    pos_in_p1[p1] = np.arange(t)
    in_seg = np.zeros(t, dtype=bool)
    in_seg[p1[i:j]] = True
    for k in list(range(0, i)) + list(range(j, t)):
        v = p2[k]
        while in_seg[v]:
            v = p2[pos_in_p1[v]]
        child[k] = v
    return child


def _cuts(rng: np.random.Generator, t: int) -> tuple[int, int]:
    i, j = sorted(rng.choice(t + 1, size=2, replace=False))
    return int(i), int(j)


@register("ga")
class GeneticAlgorithm(Polishing, Solver):
    """Generational GA with elitism over trajectories.

    Parameters
    ----------
    population : individuals per generation (>= 2).
    generations : generations after the initial population.
    tournament : tournament size for parent selection (1..population).
    crossover : ``"ox"``, ``"pmx"`` or ``"both"`` (one of the two at random per child).
    crossover_rate : probability that a child is a crossover of two parents (else a copy of the first).
    mutation : ``"swap"``, ``"inversion"`` or ``"both"``.
    mutation_rate : probability that a child is mutated once (applied after crossover).
    elitism : best individuals copied unchanged into the next generation (0..population-1).
    seeds : initial individuals: names in ``("greedy", "greedy-morf")`` and/or permutations (e.g. from
        attribution rankings, ``trace_opt.explanation.rankings.attribution_to_trajectory``); the rest are random. A
        named seed whose greedy construction needs more passes than the budget has left
        (``_common.greedy_cost``) is replaced by the single-feature order (``Result.info["seed_fallback"]``).
    polish_window : if set, finish with exact window moves of this width on the best individual; the
        generations then run on ``1 - polish_share`` of every limit of the solve and polishing gets the
        rest (``solvers.window.Polishing``).
    polish_share : share of each limit (forward passes, seconds, iterations) kept for polishing.
    memetic_window : memetic step (Moscato): each generation, the best child gets one sweep of exact
        window moves of this width (``window_descent``, 2^w sets per window, mostly cached) and
        replaces itself. ``"auto"``: ``min(5, t)``; None: a plain GA. Default chosen on the benchmark
        in ``bench/solver_gap.py`` (the plain GA averaged 0.4-0.8% from the optimum there).

    Duplicates of individuals already in the population are replaced by a fresh mutation, so the
    population keeps its diversity; identical trajectories cost nothing thanks to the oracle's cache.
    When the budget cannot score a whole population or generation, the members (seeds first) or children that
    fit are scored and the search stops there (``info["population_scored"]`` / ``["last_generation_children"]``),
    so it ends within one trajectory's cost of the budget.
    """

    def __init__(
        self,
        population: int = 32,
        generations: int = 200,
        tournament: int = 3,
        crossover: str = "both",
        crossover_rate: float = 0.9,
        mutation: str = "both",
        mutation_rate: float = 0.5,
        elitism: int = 2,
        seeds: Sequence[str | ArrayLike] = ("greedy", "greedy-morf"),
        polish_window: int | str | None = None,
        memetic_window: int | str | None = "auto",
        polish_share: float = POLISH_SHARE,
    ):
        self.population = check_positive_int("population", population, minimum=2)
        self.generations = check_positive_int("generations", generations)
        self.tournament = check_positive_int("tournament", tournament)
        if self.tournament > self.population:
            raise ValueError(f"tournament={tournament!r} is not valid; expected 1..population={self.population}")
        self.crossover = check_choice("crossover", crossover, ("ox", "pmx", "both"))
        self.crossover_rate = check_positive_float("crossover_rate", crossover_rate, allow_zero=True)
        self.mutation = check_choice("mutation", mutation, ("swap", "inversion", "both"))
        self.mutation_rate = check_positive_float("mutation_rate", mutation_rate, allow_zero=True)
        for name, v in (("crossover_rate", self.crossover_rate), ("mutation_rate", self.mutation_rate)):
            if v > 1:
                raise ValueError(f"{name}={v!r} is not valid; expected a probability in [0, 1]")
        self.elitism = check_positive_int("elitism", elitism, minimum=0)
        if self.elitism >= self.population:
            raise ValueError(f"elitism={elitism!r} is not valid; expected 0..population-1={self.population - 1}")
        seeds = [] if seeds is None else ([seeds] if isinstance(seeds, str) else list(seeds))
        for s in seeds:
            if isinstance(s, str) and s not in SEED_NAMES:
                raise ValueError(f"seeds contains {s!r}; expected names in {list(SEED_NAMES)} or permutations")
        if len(seeds) > self.population:
            raise ValueError(f"seeds has {len(seeds)} entries; expected at most population={self.population}")
        self.seeds = seeds
        self.polish_window, self.polish_share = check_polish(polish_window, polish_share)
        if memetic_window != "auto":
            check_window_option("memetic_window", memetic_window, accepts="'auto' or None")
        self.memetic_window = memetic_window

    def _progress_total(self, problem):
        return self.generations

    def _mutate(self, child: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        kind = self.mutation if self.mutation != "both" else ("swap" if rng.random() < 0.5 else "inversion")
        i, j = sorted(rng.choice(len(child), size=2, replace=False))
        child = child.copy()
        if kind == "swap":
            child[i], child[j] = child[j], child[i]
        else:
            child[i : j + 1] = child[i : j + 1][::-1]
        return child

    def _select(self, scores: np.ndarray, rng: np.random.Generator) -> int:
        entrants = rng.choice(len(scores), size=self.tournament, replace=False)
        return int(entrants[np.argmax(scores[entrants])])

    @staticmethod
    def _affordable_scores(problem, run, rows: np.ndarray) -> np.ndarray:
        """Scores of the first of ``rows`` (trajectories) that what is left of the budget can score, in one
        batch: all of them without a pass limit or when (t + 1) sets a row (twice for le-mo) surely fit; else
        as many as the passes they would really make (``TraceProblem.new_passes_of_scores``) allow. The first
        row is always tried (the oracle then decides: a stop when it does not fit)."""
        left = passes_left(run.oracle)
        per = (problem.t + 1) * (2 if problem.objective == "le-mo" else 1)
        if np.isfinite(left) and len(rows) * per > left:
            cost = np.cumsum(problem.new_passes_of_scores(rows))  # an upper bound: repeats across rows count twice
            rows = rows[: max(1, int(np.searchsorted(cost, left, side="right")))]
        return problem.scores(rows)

    def _memetic_window(self, t: int):
        return min(AUTO_MEMETIC_WINDOW, t) if self.memetic_window == "auto" else self.memetic_window

    def _check_windows(self, t):
        super()._check_windows(t)
        check_window_option("memetic_window", self._memetic_window(t), t)

    def _main(self, problem: TraceProblem, run: Run) -> None:
        t = problem.t
        memetic = self._memetic_window(t)
        rng = run.rng
        pop: list[np.ndarray] = []
        for s in self.seeds:
            if isinstance(s, str) and greedy_cost(t, problem.objective) > passes_left(run.oracle):
                # a greedy seed does not fit what is left of the budget: the single-feature order instead
                run.info["seed_fallback"] = "single-feature order (the budget is below a greedy seed's cost)"
                sigma = single_feature_order(problem, run)
            elif isinstance(s, str):
                sigma = greedy_order(problem, "lerf" if s == "greedy" else "morf", run, count_iterations=False)
            else:
                sigma = problem.check_trajectory(s, "seeds entry")
            if not any(np.array_equal(sigma, p) for p in pop):
                pop.append(sigma)
        if pop:
            run.fallback(pop[0])
            sets = (t + 1) * (2 if problem.objective == "le-mo" else 1)
            if sets * self.population > passes_left(run.oracle):  # the population may not fit: score the seeds first
                seed_scores = problem.scores(np.stack(pop))
                run.report(pop[int(np.argmax(seed_scores))], float(seed_scores.max()))
        while len(pop) < self.population:
            pop.append(rng.permutation(t).astype(np.int64))
        pop_arr = np.stack(pop)
        scores = self._affordable_scores(problem, run, pop_arr)  # seeds first: a population cut short keeps them
        fit = len(scores)
        b = int(np.argmax(scores))
        run.report(pop_arr[b], float(scores[b]))
        if fit < len(pop_arr):
            run.info["population_scored"] = fit
            raise _Stop("budget")
        for _ in range(self.generations):
            run.tick()
            order = np.argsort(-scores, kind="stable")
            elite = pop_arr[order[: self.elitism]]
            seen = {p.tobytes() for p in elite}
            kids: list[np.ndarray] = []
            while len(kids) < self.population - self.elitism:
                p1 = pop_arr[self._select(scores, rng)]
                if rng.random() < self.crossover_rate:
                    p2 = pop_arr[self._select(scores, rng)]
                    kind = self.crossover if self.crossover != "both" else ("ox" if rng.random() < 0.5 else "pmx")
                    i, j = _cuts(rng, t)
                    child = order_crossover(p1, p2, i, j) if kind == "ox" else pmx_crossover(p1, p2, i, j)
                else:
                    child = p1.copy()
                if rng.random() < self.mutation_rate:
                    child = self._mutate(child, rng)
                tries = 0
                while child.tobytes() in seen and tries < 10:
                    child = self._mutate(child, rng)
                    tries += 1
                seen.add(child.tobytes())
                kids.append(child)
            children = np.stack(kids)
            child_scores = self._affordable_scores(problem, run, children)
            fit = len(child_scores)
            if fit < len(children):  # the budget ended inside this generation: the children that fit were scored
                children = children[:fit]  # and the search stops here
                b = int(np.argmax(child_scores))
                if child_scores[b] > run.best_score:
                    run.report(children[b], float(child_scores[b]))
                run.info["last_generation_children"] = fit
                raise _Stop("budget")
            pop_arr = np.concatenate([elite, children])
            scores = np.concatenate([scores[order[: self.elitism]], child_scores])
            b = int(np.argmax(child_scores))
            if child_scores[b] > run.best_score:
                run.report(children[b], float(child_scores[b]))
            if memetic is not None:  # one sweep of exact window moves on the best child
                k = self.elitism + b
                polished, chain = window_descent(problem, pop_arr[k], memetic, max_sweeps=1)
                pop_arr[k], scores[k] = polished, float(chain.sum())
                run.report(polished, scores[k])
