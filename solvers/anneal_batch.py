"""Simulated annealing with batched speculative proposals ("sa-batch").

Scheme (speculative SA, in the spirit of Witte, Chamberlain and Franklin 1991): from the current
state, draw the proposals of the next m iterations at once (their uniform draws do not depend on the
state), send all their changed prefix sets to the oracle in **one batch**, then walk them in order
exactly as sequential SA would: the first accepted proposal is committed and the walk stops; the
proposals after it were made from a state that no longer exists, so they are discarded and their
draws are reused, from the new state, in the next batch. Rejected proposals leave the state
unchanged, so the walk is exact: **the trajectory is identical to ``SimulatedAnnealing`` with the
same seed**, only the oracle traffic changes.

Why this scheme: SA spends most of its iterations at low temperature where almost every proposal is
rejected, so long runs of proposals share one state and batch perfectly; independent chains or
multiple-try Metropolis would also fill a batch but change the algorithm (and its quality per
iteration) instead of only its cost. The price is the speculative waste: sets of proposals after an
accepted one are evaluated but not used in that round (they stay in the cache, and many come back).
``width`` bounds m; ``adaptive`` sets m from the running acceptance rate p (m ~ 1/p), so the
expected waste per batch stays below about one proposal's worth times (1 - 1/e) of the batch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from neighbourhoods import NeighbourhoodSpec
from trace_opt.core.budget import BudgetExhausted
from trace_opt.core.validation import check_positive_int

from . import anneal_kernels as AK
from .anneal import ROW, KeyedChain, SimulatedAnnealing, uses_keys
from .base import register


@register("sa-batch")
class SpeculativeAnnealing(SimulatedAnnealing):
    """``SimulatedAnnealing`` (same parameters and the same trajectory for the same seed) that evaluates
    up to ``width`` consecutive proposals per oracle batch.

    width : most proposals per batch.
    adaptive : choose the batch size m = clip(1 / p, 1, width) from an exponential moving average p of
        the acceptance rate (short batches while many moves are accepted, long ones when few are);
        ``False`` always uses ``width``.

    At the budget's end a batch the budget refuses is halved, down to one proposal, so the budget is
    spent down to less than one proposal's cost (the trajectory is the same: the proposals are walked in
    order either way).

    Needs t <= 64, a standard ``TraceProblem`` and a built-in (kernel) neighbourhood; otherwise it runs
    as plain sequential SA.
    ``evaluation`` is always incremental here.
    """

    def __init__(
        self,
        iterations: int = 10_000,
        T0: float | None = None,
        eta: float = 0.999,
        init: str | ArrayLike = "greedy",
        threshold_temperature: float | None = None,
        neighbourhood: NeighbourhoodSpec = "complete",
        width: int = 64,
        adaptive: bool = True,
        threshold_action: str = "stop",
    ):
        super().__init__(
            iterations=iterations,
            T0=T0,
            eta=eta,
            init=init,
            threshold_temperature=threshold_temperature,
            neighbourhood=neighbourhood,
            threshold_action=threshold_action,
        )
        self.width = check_positive_int("width", width)
        if not isinstance(adaptive, (bool, np.bool_)):
            raise ValueError(f"adaptive={adaptive!r} is not valid; expected True or False")
        self.adaptive = bool(adaptive)

    @property
    def batch_sizes_(self) -> list:
        """Proposals per oracle batch in the last solve (empty before a solve or on the sequential fallback)."""
        return list(getattr(self, "_batch_sizes", []))

    def _search(self, problem, run):
        self._batch_sizes = []
        nb, T, sigma = self._start(problem, run)
        if not uses_keys(problem) or nb.kind < 0:
            self._search_generic(problem, run, nb, T, sigma)
            return
        t = problem.t
        state = KeyedChain(problem, nb, sigma)
        run.report(state.sigma, state.score)
        W = self.width
        new = np.empty((W, t), dtype=np.int64)
        lo = np.empty(W, dtype=np.int64)
        hi = np.empty(W, dtype=np.int64)
        seg = np.empty((W, t + 1), dtype=np.uint64)
        req = np.empty(W * 2 * (t + 1), dtype=np.uint64)
        req_off = np.empty(W + 1, dtype=np.int64)
        seg_c = np.empty(t + 1, dtype=np.float64)
        draws = np.empty((0, ROW))  # drawn but not yet consumed iterations, in stream order
        stop_below, floor = self._stop_below(), self._floor()
        iter_limit = run.budget.iterations
        p_accept = 1.0  # moving average of the acceptance rate
        done = 0
        while done < self.iterations:
            m = W if not self.adaptive else int(min(W, max(1, round(1.0 / max(p_accept, 1.0 / W)))))
            m = min(m, self.iterations - done)
            if iter_limit is not None:
                m = min(m, max(1, iter_limit - run.iterations))
            if len(draws) < m:
                draws = np.concatenate([draws, run.rng.random((m - len(draws), ROW))])
            n_req = AK.propose_batch(
                nb.kind,
                state.sigma,
                state.keys,
                draws,
                m,
                nb.edges,
                nb.probs,
                state.full,
                state.objective,
                new,
                lo,
                hi,
                seg,
                req,
                req_off,
            )
            while True:  # a batch the forward-pass budget refuses is halved (its first proposals), down to one
                try:
                    vals = state.oracle.evaluate_keys(req[:n_req])
                    break
                except BudgetExhausted as exc:
                    if exc.reason != "budget" or m == 1:
                        raise
                    m //= 2
                    n_req = int(req_off[m])
            consumed, j, delta, T, below = AK.scan_batch(
                vals, req_off, state.chain, lo, hi, draws, m, state.objective, T, self.eta, stop_below, floor, seg_c
            )
            self._batch_sizes.append(m)
            run.tick(consumed)
            done += consumed
            draws = draws[consumed:]
            rate = (1.0 if j >= 0 else 0.0) / consumed
            p_accept = 0.9**consumed * p_accept + (1 - 0.9**consumed) * rate
            if j >= 0:
                a, b = int(lo[j]), int(hi[j])
                state.sigma[a : b + 1] = new[j, a : b + 1]
                state.chain[a + 1 : b + 1] = seg_c[: b - a]
                state.keys[a + 1 : b + 1] = seg[j, : b - a]
                state.score += delta
                if state.score > run.best_score:
                    run.report(state.sigma, state.resum())
            if below:
                break
