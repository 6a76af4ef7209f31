"""Simulated annealing over trajectories, as in the paper, with incremental evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from neighbourhoods import N_DRAWS, Neighbourhood, NeighbourhoodSpec, check_neighbourhood_spec, get_neighbourhood
from neighbourhoods.kernels import apply_move
from trace_opt.core.kernels import chain_from_values, chain_sum, full_key, prefix_keys, request_keys
from trace_opt.core.objective import get_objective
from trace_opt.core.problem import TraceProblem
from trace_opt.core.synthetic import SyntheticSetFunction
from trace_opt.core.validation import check_choice, check_positive_float, check_positive_int, check_trajectory

from . import anneal_kernels as AK
from ._common import check_init, initial_trajectory
from ._moves import max_sets, move_deltas_in_pieces
from .base import Solver, register

EVALUATIONS = ("incremental", "full")
#: what SA does once T falls below ``threshold_temperature``
THRESHOLD_ACTIONS = ("stop", "hold")
ROW = N_DRAWS + 1  # uniform draws per iteration: N_DRAWS for the move, one for the Metropolis test


def temperature_rule(problem: TraceProblem) -> tuple[float, str]:
    """SA's initial temperature when ``T0`` is None, and the rule that gave it (``f(x) = D({})``).

    The rule depends only on the oracle's ``output`` kind (``problem.oracle.output``):

    * ``"logit"`` or ``"log_prob"`` (``ModelOracle``, ``TableOracle``, a black box declared so):
      ``T0 = 2``, the paper's rule for logits (log-probabilities differ from logits by a per-input
      constant, so score differences have the same scale).
    * ``"prob"``: ``T0 = |f(x)| / 10``, the paper's rule for probabilities.
    * ``"raw"`` (a black box's scores used as returned with no declared kind, e.g. a ``predict_proba``
      column or decision scores) has no known scale, so the logit constant is not
      justified: ``T0 = max(|f(x)|, |f(x) - D(all)|) / 10``, a tenth of the output's observed range.
      For probabilities with D(all) <= 2 f(x) (deleting everything does not double it) this is the
      paper's probability rule; for logits of size ~20 it is about the paper's 2. (D(all) is part of
      every trajectory's chain, so it costs no extra pass.)
    * any other oracle without an output kind (plain set functions, synthetic instances): ``T0 = 2``,
      as for logits.

    ``T0`` is floored at 1e-12 (a zero output would otherwise give T0 = 0).
    """
    oracle = problem.oracle
    output = getattr(oracle, "output", None)
    if output == "prob":
        return max(abs(oracle.value_full_input) / 10.0, 1e-12), "prob: |f(x)|/10 (paper)"
    if output == "raw":
        fx = oracle.value_full_input
        f_all = float(oracle.evaluate(np.ones(problem.t, dtype=bool)))
        return max(abs(fx) / 10.0, abs(fx - f_all) / 10.0, 1e-12), "raw: max(|f(x)|, |f(x) - D(all)|)/10"
    if output in ("logit", "log_prob"):
        return 2.0, f"{output}: 2 (paper's logit rule)"
    return 2.0, "no output kind: 2 (paper's logit rule)"


def default_temperature(problem: TraceProblem) -> float:
    """SA's initial temperature when ``T0`` is None (``temperature_rule`` gives the rule)."""
    return temperature_rule(problem)[0]


def uses_keys(problem: TraceProblem) -> bool:
    """True when the fast path applies: t <= 64 (uint64 set keys) and the problem's c is its objective's
    standard rule (``TraceProblem.standard_objective``), which the numba kernels compute."""
    return problem.oracle.exact_uint64_keys and problem.standard_objective


class KeyedChain:
    """The state of a local search on the fast path: trajectory, prefix keys and chain ``c(P_k)``.

    ``propose(u)`` draws a move and evaluates only its changed prefixes (cached by the oracle);
    ``propose_full(u)`` re-evaluates the whole new trajectory (the paper's way); ``commit()`` accepts
    the last proposal. All bookkeeping runs in numba kernels; the oracle is called once per proposal.
    """

    def __init__(self, problem: TraceProblem, nb: Neighbourhood, sigma: np.ndarray):
        self.oracle = problem.oracle
        self.nb = nb
        t = self.t = problem.t
        self.objective = problem.objective.code
        self.full = full_key(t)
        self.sigma = np.ascontiguousarray(sigma, dtype=np.int64).copy()
        self.new = np.empty(t, dtype=np.int64)
        self.keys = prefix_keys(self.sigma, np.empty(t + 1, dtype=np.uint64))
        self.new_keys = np.empty(t + 1, dtype=np.uint64)
        self.seg = np.empty(t + 1, dtype=np.uint64)
        self.req = np.empty(2 * (t + 1), dtype=np.uint64)
        self.seg_c = np.empty(t + 1, dtype=np.float64)
        self.new_chain = np.empty(t + 1, dtype=np.float64)
        self.chain = self._chain_of(self.keys, np.empty(t + 1, dtype=np.float64))
        self.score = chain_sum(self.chain)
        self._full_move = False

    def _chain_of(self, keys, out):
        n = request_keys(keys, self.t + 1, self.full, self.objective, self.req)
        return chain_from_values(self.oracle.evaluate_keys(self.req[:n]), self.t + 1, self.objective, out)

    def propose(self, u: np.ndarray, T: float) -> tuple[float, bool]:
        """Incremental: ``(delta, accepted)`` of the move drawn by ``u`` (Metropolis at temperature T)."""
        nb = self.nb
        lo, hi, n = AK.propose_requests(
            nb.kind,
            self.sigma,
            self.keys,
            u,
            nb.edges,
            nb.probs,
            self.full,
            self.objective,
            self.new,
            self.seg,
            self.req,
        )
        vals = self.oracle.evaluate_keys(self.req[:n])
        self.lo, self.hi, self._full_move = lo, hi, False
        return AK.assess(vals, self.chain, lo, hi, self.objective, self.seg_c, T, u[N_DRAWS])

    def propose_full(self, u: np.ndarray, T: float) -> tuple[float, bool]:
        """Full re-evaluation: all 2(t+1) (or t+1) sets of the new trajectory are requested."""
        nb = self.nb
        lo, hi = apply_move(nb.kind, self.sigma, u, nb.edges, nb.probs, self.new)
        prefix_keys(self.new, self.new_keys)
        self._chain_of(self.new_keys, self.new_chain)
        self.lo, self.hi, self._full_move = lo, hi, True
        delta = AK.range_delta(self.new_chain, self.chain, lo, hi)
        return delta, AK.metropolis(delta, T, u[N_DRAWS])

    def commit(self, delta: float) -> None:
        """Accept the last proposal."""
        self.sigma, self.new = self.new, self.sigma
        if self._full_move:
            self.chain, self.new_chain = self.new_chain, self.chain
            self.keys, self.new_keys = self.new_keys, self.keys
        else:
            lo, hi = self.lo, self.hi
            self.chain[lo + 1 : hi + 1] = self.seg_c[: hi - lo]
            self.keys[lo + 1 : hi + 1] = self.seg[: hi - lo]
        self.score += delta

    def resum(self) -> float:
        """Re-sum the chain (keeps float drift out of reported scores)."""
        self.score = chain_sum(self.chain)
        return self.score


@register("sa")
class SimulatedAnnealing(Solver):
    """Simulated annealing (Kirkpatrick et al.; the paper's algorithm 1).

    Parameters
    ----------
    iterations : K, proposals in total (paper: 10,000).
    T0 : initial temperature in score units. None picks it from the oracle's output
        (``temperature_rule``): 2 for logits and log-probabilities (paper), |f(x)|/10 for probabilities
        (paper), ``max(|f(x)|, |f(x) - D(all)|)/10`` for a black-box callable's raw scores (unknown
        scale; the paper's probability rule for ``predict_proba``-like outputs), 2 for a plain set
        function. The T0 used is recorded in ``Result.params["T0"]`` and the rule in
        ``Result.info["T0_rule"]`` (``"given"`` for an explicit T0).
    eta : geometric cooling per iteration, ``T <- eta * T`` (paper: 0.999).
    init : start trajectory (``initial_trajectory``). ``"greedy"`` (default) is greedy on the problem's
        **objective** (for ``"le-mo"`` not the LeRF order of D); ``"greedy-lerf"`` is the greedy LeRF
        order of D; ``"greedy-lerf-prob"`` is the paper's start, greedy LeRF on softmax probabilities;
        ``"greedy-morf"``, ``"random"`` (seeded) or a permutation. ``Result.info["start"]`` says which.
    threshold_temperature : a temperature floor (None: none). What happens there is ``threshold_action``.
    threshold_action : ``"stop"`` (default): the run ends once T falls below the threshold (fewer than K
        iterations); ``"hold"``: the cooling stops there (T stays at the threshold) and the search goes on
        for all K iterations, as the authors' code does.
    neighbourhood : name, ``Neighbourhood`` or networkx graph (paper: ``"complete"`` transpositions).
    evaluation : ``"incremental"`` (default): a move over positions lo..hi evaluates only the prefix
        sets between them (DESIGN.md section 3), repeated sets come from the oracle's cache;
        ``"full"``: every proposal re-evaluates the whole new trajectory, as the paper's code does
        (2(t+1) sets per iteration for ``le-mo``; pair it with an oracle built with ``cache=False``
        to reproduce the paper's cost). Both take the same decisions: the acceptance delta is the sum
        of the changed terms in both modes, so with a deterministic D they follow the same trajectory.

    Each iteration draws ``N_DRAWS + 1`` uniform numbers (the move, then the Metropolis test) whether
    or not they are needed, so the random stream, and hence the trajectory, does not depend on caching.
    A worse move is accepted with probability ``exp(delta / T)``.
    """

    def __init__(
        self,
        iterations: int = 10_000,
        T0: float | None = None,
        eta: float = 0.999,
        init: str | ArrayLike = "greedy",
        threshold_temperature: float | None = None,
        neighbourhood: NeighbourhoodSpec = "complete",
        evaluation: str = "incremental",
        threshold_action: str = "stop",
    ):
        self.iterations = check_positive_int("iterations", iterations)
        self.T0 = check_positive_float("T0", T0, allow_none=True)
        eta = check_positive_float("eta", eta)
        if eta > 1:
            raise ValueError(f"eta={eta!r} is not valid; expected a cooling factor in (0, 1]")
        self.eta = eta
        self.init = check_init(init)
        self.threshold_temperature = check_positive_float(
            "threshold_temperature", threshold_temperature, allow_none=True
        )
        self.threshold_action = check_choice("threshold_action", threshold_action, THRESHOLD_ACTIONS)
        self.neighbourhood = check_neighbourhood_spec(neighbourhood)
        self.evaluation = check_choice("evaluation", evaluation, EVALUATIONS)

    def _progress_total(self, problem):
        return self.iterations

    def _stop_below(self) -> float:
        """The threshold that ends the run (0: none)."""
        thr = self.threshold_temperature
        return 0.0 if thr is None or self.threshold_action == "hold" else thr

    def _floor(self) -> float:
        """The temperature the cooling stops at (0: none)."""
        thr = self.threshold_temperature
        return thr if thr is not None and self.threshold_action == "hold" else 0.0

    def _start(self, problem, run):
        nb = get_neighbourhood(self.neighbourhood, problem.t)
        sigma = initial_trajectory(problem, self.init, run.rng, run)  # first: a stop keeps its fallback
        T, rule = (self.T0, "given") if self.T0 is not None else temperature_rule(problem)
        run.resolved["T0"] = T
        run.info["T0_rule"] = rule
        return nb, T, sigma

    def _search(self, problem, run):
        nb, T, sigma = self._start(problem, run)
        if uses_keys(problem) and nb.kind >= 0:
            self._search_keys(problem, run, nb, T, sigma)
        else:
            self._search_generic(problem, run, nb, T, sigma)

    def _search_keys(self, problem, run, nb, T, sigma):
        rng = run.rng
        state = KeyedChain(problem, nb, sigma)
        run.report(state.sigma, state.score)
        propose = state.propose_full if self.evaluation == "full" else state.propose
        stop_below, floor = self._stop_below(), self._floor()
        for _ in range(self.iterations):
            run.tick()
            u = rng.random(ROW)
            delta, accepted = propose(u, T)
            if accepted:
                state.commit(delta)
                if state.score > run.best_score:
                    run.report(state.sigma, state.resum())
            T = max(T * self.eta, floor)
            if T < stop_below:
                break

    def _search_generic(self, problem, run, nb, T, sigma):
        """Any t, any problem subclass and user neighbourhoods that only implement ``propose(sigma, rng)``
        (these draw their own numbers, then one uniform for the Metropolis test): masks through
        ``problem.move_delta`` / ``problem.chain``."""
        rng = run.rng
        compiled_moves = nb.kind >= 0
        chain = problem.chain(sigma)
        score = chain_sum(chain)
        run.report(sigma, score)
        stop_below, floor = self._stop_below(), self._floor()
        for _ in range(self.iterations):
            run.tick()
            if compiled_moves:
                u = rng.random(ROW)
                new, lo, hi = nb.apply(sigma, u[:N_DRAWS])
                u_accept = u[N_DRAWS]
            else:
                new, lo, hi = nb.propose(sigma, rng)
                u_accept = rng.random()
            if self.evaluation == "full":
                new_chain = problem.chain(new)
                delta = AK.range_delta(new_chain, chain, lo, hi)
            elif hi - lo <= max_sets(problem.t):
                delta, segment = problem.move_delta(sigma, chain, new, lo, hi)
            else:  # a long move at large t: its prefix sets in pieces of bounded memory
                d, segs = move_deltas_in_pieces(problem, sigma, chain, new[None, :], [lo], [hi])
                delta, segment = float(d[0]), segs[0]
            if AK.metropolis(delta, T, u_accept):
                sigma = new
                if self.evaluation == "full":
                    chain = new_chain
                else:
                    chain[lo + 1 : hi + 1] = segment
                score += delta
                if score > run.best_score:
                    score = chain_sum(chain)
                    run.report(sigma, score)
            T = max(T * self.eta, floor)
            if T < stop_below:
                break


def anneal_synthetic(
    fn: SyntheticSetFunction,
    objective: str = "le-mo",
    iterations: int = 10_000,
    T0: float = 2.0,
    eta: float = 0.999,
    init: str | ArrayLike = "random",
    neighbourhood: NeighbourhoodSpec = "complete",
    seed: int | None = 0,
    threshold_temperature: float | None = None,
) -> dict[str, Any]:
    """Simulated annealing compiled end to end (numba) over a ``trace_opt.core.synthetic.SyntheticSetFunction``.

    Follows the same random stream and floating-point steps as ``SimulatedAnnealing`` with incremental
    evaluation on ``TraceProblem(fn.oracle(), objective)`` with the same seed: ``init="random"`` draws
    ``rng.permutation(t)`` first, then every iteration one row of ``N_DRAWS + 1`` uniforms. (A greedy
    start is not compiled: pass the permutation as ``init``.) Returns a dict with ``trajectory`` (best),
    ``score``, ``final`` (last state), ``improvements`` [(iteration, best score)], ``iterations``,
    ``accepted``.
    """
    if not isinstance(fn, SyntheticSetFunction):
        raise ValueError(f"fn must be a trace_opt.core.synthetic.SyntheticSetFunction; got {type(fn).__name__}")
    obj = get_objective(objective).code
    iterations = check_positive_int("iterations", iterations)
    T0 = check_positive_float("T0", T0)
    eta = check_positive_float("eta", eta)
    threshold = check_positive_float("threshold_temperature", threshold_temperature, allow_none=True)
    rng = np.random.default_rng(seed)
    t = fn.t
    if isinstance(init, str):
        if init != "random":
            raise ValueError(f"init={init!r} is not valid here; expected 'random' or a permutation")
        sigma0 = rng.permutation(t).astype(np.int64)
    else:
        sigma0 = check_trajectory(init, t, "init")
    nb = get_neighbourhood(neighbourhood, t)
    draws = rng.random((iterations, ROW))
    sigma, best_sigma, best, imp_scores, imp_iters, its, accepted = AK.sa_synthetic(
        sigma0,
        draws,
        T0,
        eta,
        0.0 if threshold is None else threshold,
        nb.kind,
        nb.edges,
        nb.probs,
        obj,
        full_key(t),
        fn.A,
        fn.U,
        fn.V,
        fn.width,
    )
    return {
        "trajectory": best_sigma,
        "score": float(best),
        "final": sigma,
        "improvements": list(zip(imp_iters.tolist(), imp_scores.tolist())),
        "iterations": int(its),
        "accepted": int(accepted),
    }
