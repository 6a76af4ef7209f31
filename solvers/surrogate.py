"""``surrogate``: model-based search. A cheap model of D is fitted to the sets the solve has seen, searched
without forward passes, and the real oracle is asked only to check what the model proposes.

Why it works here: the objective is a chain sum over prefix sets (DESIGN.md section 2) and the bundled
models are mostly additive (R^2 ~0.9), so a ridge regression of D on the set's indicator vector (the
additive part, as KernelSHAP's weighted regression finds it from random coalitions; BOCS-style selected
pairwise terms on top) ranks most candidates correctly, and the chain structure lets every real check
be small and exact. The search works on the **hybrid** function: the real D where a set has been
evaluated, the model's prediction elsewhere.

1. **Design**: ``samples`` random coalitions of uniformly drawn sizes, each with its complement (le-mo
   reads both), plus {} and all (KernelSHAP-like paired sampling; 20 % of the budget by default).
2. **Lazy greedy start**: greedy on the objective where each step evaluates only the hybrid's best
   candidate, again until the hybrid's best is a known value (an unseen candidate gets an optimism bonus
   of ``optimism`` x the model's RMS residual, so candidates the model may underrate are checked too).
   About 3 checks per step instead of t - k: ~1,200 passes at t = 49 instead of greedy's 2,448. The model
   is refitted as the known sets grow (``refit``). If the budget would not cover the rest of the chain,
   the remaining features are ranked by the hybrid's values of that step, and the chain is evaluated.
3. **Lazy window moves**: for w consecutive positions, the exact DP over the window's 2^w sets runs on the
   hybrid values; the unknown sets on the DP's best chain (at most 2(w-1)) are evaluated and the DP
   repeated until its best chain is all known; the move is kept if its real gain is positive. A window
   the model calls optimal costs nothing (exact ``window-dp`` pays ~2^(w+1) passes per window).
   **Batched checks** (``check_batch``, issue 28): a lazy greedy step checks the argmax together with the
   rivals the model may underrate, and a descent takes its windows in groups of disjoint ones whose chains are
   checked in one oracle call a round (on EfficientNet-Lite0 at t = 49, 2,000 passes: ~235 model calls of
   ~8.5 inputs, against 818 of 2.4 before).
4. **Iterated local search** as ``window-dp``: ``kicks`` rounds of ``kick_moves`` random transpositions of
   the best trajectory, a lazy descent, keep the better.

Every reported trajectory is fully evaluated on the real oracle. Requests are checked against the budget
before they are made (a check that does not fit is not made), so the budget is never exceeded; the
solver's own record of seen sets means no set is requested twice, even from an oracle without a cache.
References: Baptista & Poloczek 2018 (BOCS), Oh et al. 2019 (COMBO), Lundberg & Lee 2017 (KernelSHAP),
surrogate-assisted local search.
"""

from __future__ import annotations

import numbers

import numpy as np

from neighbourhoods import get_neighbourhood
from trace_opt.core.validation import check_positive_float, check_positive_int

from . import kernels
from ._common import check_window_option
from .base import Solver, register


def _check_share(name: str, value) -> float:
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value < 1):
        raise ValueError(f"{name}={value!r} is not valid; expected a number in [0, 1)")
    return float(value)


def remaining_passes(oracle) -> float:
    """Forward passes the oracle's current limits still allow (inf without a pass limit)."""
    limit = oracle.limits.effective_passes
    return np.inf if limit is None else max(0, limit - oracle.forward_passes)


class _Known:
    """The D values this solve has seen, by exact set key (what the surrogate is fitted to)."""

    def __init__(self, oracle):
        self.oracle = oracle
        self.index: dict = {}
        self.masks: list[np.ndarray] = []
        self.values: list[float] = []

    def __len__(self):
        return len(self.values)

    def keys(self, masks: np.ndarray) -> list:
        keys = self.oracle.keys_of(masks)
        return keys.tolist() if isinstance(keys, np.ndarray) else keys

    def lookup(self, masks: np.ndarray) -> np.ndarray:
        """Known values of the rows of ``masks``, NaN where unknown."""
        get = self.index.get
        return np.array(
            [self.values[i] if (i := get(k)) is not None else np.nan for k in self.keys(masks)], dtype=np.float64
        )

    def unknown(self, masks: np.ndarray) -> np.ndarray:
        """Rows of ``masks`` (first occurrence of each set) whose value is not known."""
        seen, rows = set(), []
        for r, k in enumerate(self.keys(masks)):
            if k not in self.index and k not in seen:
                seen.add(k)
                rows.append(r)
        return np.array(rows, dtype=np.int64)

    def add(self, masks: np.ndarray, values: np.ndarray) -> None:
        for k, m, v in zip(self.keys(masks), masks, np.asarray(values, dtype=np.float64).tolist()):
            if k not in self.index:
                self.index[k] = len(self.values)
                self.masks.append(m.copy())
                self.values.append(v)

    def arrays(self):
        return np.array(self.masks, dtype=bool).reshape(-1, self.oracle.t), np.array(self.values)


#: above this many model terms (features and pairs) and more terms than samples, the ridge fit solves the n x n
#: kernel system instead of the p x p one (same solution; at t = 10,000 the p x p system took 3.4 GB)
DUAL_ABOVE = 2048
#: the most entries of a design matrix ``predict`` builds at once (rows x terms; 128 MB of float64)
PREDICT_ENTRIES = 1 << 24


class _Model:
    """Ridge regression of D on ``[1, z, z_i z_j for the selected pairs]`` (z: the set's indicators)."""

    def __init__(self, t: int, pairs: np.ndarray, ridge: float):
        self.t = t
        self.pairs = pairs  # (m, 2) feature pairs with an interaction term
        self.ridge = ridge
        self.coef = np.zeros(1 + t + len(pairs))

    def features(self, masks: np.ndarray) -> np.ndarray:
        z = masks.astype(np.float64)
        cols = [np.ones((len(z), 1)), z]
        if len(self.pairs):
            cols.append(z[:, self.pairs[:, 0]] * z[:, self.pairs[:, 1]])
        return np.concatenate(cols, axis=1)

    def fit(self, masks: np.ndarray, y: np.ndarray) -> "_Model":
        X = self.features(masks)
        scale = float(np.std(y)) or 1.0
        yc = (y - y.mean()) / scale
        Xc = X.copy()
        Xc[:, 1:] -= X[:, 1:].mean(axis=0)  # the intercept is not penalised
        n = max(len(y), 1)
        Z, lam = Xc[:, 1:], self.ridge * n
        if Z.shape[1] > DUAL_ABOVE and Z.shape[1] > len(y):
            # many more terms than samples (large t): the same ridge solution from the n x n kernel system,
            # (Z'Z + lam I)^-1 Z'y = Z' (ZZ' + lam I)^-1 y, in O(n^2 + n p) memory instead of O(p^2)
            beta = Z.T @ np.linalg.solve(Z @ Z.T + lam * np.eye(len(y)), yc) * scale
        else:
            beta = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ yc) * scale
        self.coef = np.concatenate([[y.mean() - X[:, 1:].mean(axis=0) @ beta], beta])
        resid = y - X @ self.coef
        self.r2 = 1.0 - float(resid @ resid) / max(float(((y - y.mean()) ** 2).sum()), 1e-300)
        self.resid = resid
        self.rmse = float(np.sqrt(np.mean(resid**2))) if len(resid) else 0.0
        return self

    def predict(self, masks: np.ndarray) -> np.ndarray:
        rows = max(1, PREDICT_ENTRIES // len(self.coef))
        if len(masks) <= rows:
            return self.features(masks) @ self.coef
        # large t: the design matrix of 2t sets would be 2t x t floats (1.6 GB at t = 10,000): in row chunks
        return np.concatenate([self.features(masks[a : a + rows]) @ self.coef for a in range(0, len(masks), rows)])

    @property
    def weights(self) -> np.ndarray:
        """The additive part w (D's change when feature i is deleted)."""
        return self.coef[1 : 1 + self.t]


#: entries of the interaction score computed at once by ``_select_pairs`` (memory O(this), not t x t)
_GRAM_ENTRIES = 1 << 19


def _select_pairs(masks: np.ndarray, resid: np.ndarray, m: int) -> np.ndarray:
    """The m feature pairs whose product z_i z_j correlates most with the additive fit's residual."""
    t = masks.shape[1]
    if m <= 0 or len(resid) < 3:
        return np.zeros((0, 2), dtype=np.int64)
    z = masks.astype(np.float64)
    zc = z - z.mean(axis=0)
    r = resid - resid.mean()
    # the product's residual correlation, approximated by E[r zi zj] (features centred): the r-weighted Gram,
    # built a block of rows at a time (memory O(block x t), never t x t) keeping the m best pairs so far; ties
    # go to the lower (i, j), as a stable sort of the upper triangle in row order would give
    zr = zc * r[:, None]
    if t * t <= _GRAM_ENTRIES:  # small t: the whole matrix at once (the values of every earlier run)
        score = np.abs(zr.T @ zc) / len(r)
        iu = np.triu_indices(t, k=1)
        best = np.argsort(-score[iu], kind="stable")[:m]
        return np.stack([iu[0][best], iu[1][best]], axis=1).astype(np.int64)
    block = max(1, _GRAM_ENTRIES // t)
    best_s, best_i, best_j = np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    for a in range(0, t - 1, block):
        b = min(t, a + block)
        s = np.abs(zr[:, a:b].T @ zc) / len(r)  # rows i in a..b-1, all columns j
        s[np.arange(a, b)[:, None] >= np.arange(t)[None, :]] = -1.0  # j > i only (scores are >= 0)
        flat = s.ravel()
        floor = best_s.min() if len(best_s) == m else 0.0  # a pair below the m-th best so far cannot enter
        if flat.size > m:
            floor = max(floor, np.partition(flat, flat.size - m)[flat.size - m])
        ii, jj = np.nonzero(s >= floor)  # the block's candidates, ties included
        s_all = np.concatenate([best_s, s[ii, jj]])
        i_all = np.concatenate([best_i, ii + a])
        j_all = np.concatenate([best_j, jj])
        keep = np.lexsort((j_all, i_all, -s_all))[:m]
        best_s, best_i, best_j = s_all[keep], i_all[keep], j_all[keep]
    return np.stack([best_i, best_j], axis=1).astype(np.int64)


@register("surrogate")
class SurrogateSearch(Solver):
    """Model-based search: fit a cheap model of D, search it for free, spend passes only to check.

    Parameters
    ----------
    samples : random coalitions of the initial design, each evaluated with its complement (2 sets per
        sample). ``"auto"``: ``sample_share`` of the forward-pass budget (at most 8t samples; 4t without a
        pass budget). 0: no random design (the first fit sees only {} and all).
    sample_share : share of the budget spent on the random design when ``samples="auto"``.
    interactions : pairwise terms z_i z_j in the model, the pairs whose product correlates most with the
        additive fit's residual (0: additive model). ``"auto"``: t // 2 once at least 8t sets are known.
    ridge : ridge penalty per known set (on D's standardised scale).
    optimism : in the lazy greedy, an unseen set's predicted c is raised by ``optimism`` times the model's
        RMS residual per unseen D value it reads (an upper-confidence rule: the greedy steps then also
        check the candidates the model may underrate; 0: trust the model).
    window_optimism : the same bonus in the lazy window moves, as a multiple of ``optimism`` (0, the
        default: a window move checks the chain the model calls best and stops once that chain is known;
        on the digits CNN at t = 49 with 2,000 passes, 0 and 1 gave the same median, 0 left budget for kicks).
    singles : add the single-feature deletions and their complements (2t sets) to the design.
    window : w of the lazy window moves (DP over the window's 2^w sets on the hybrid function).
    kicks : perturbation rounds after the first descent (as ``window-dp``): ``kick_moves`` random
        transpositions of the best trajectory, a lazy descent, keep the better. (With 50, as ``window-dp``,
        runs given 20,000 passes at t = 49 ended after ~13,000 on a local optimum.)
    kick_moves : random transpositions per kick.
    refit : refit the model once the known sets grew by this share since the last fit (0: after every
        evaluation).
    check_batch : fuller oracle calls. Above 1, a lazy greedy step checks the hybrid's argmax together with
        up to ``check_batch - 1`` rivals the model may underrate (``_greedy_batch``) in one call, and a
        descent sweeps its windows in groups of disjoint ones whose chains are checked together
        (``_lazy_windows``). 1: one candidate and one window at a time (the solver before issue 28's batching).
    """

    def __init__(
        self,
        samples="auto",
        sample_share: float = 0.2,
        interactions="auto",
        ridge: float = 1e-3,
        optimism: float = 1.0,
        window: int = 6,
        kicks: int = 200,
        kick_moves: int = 3,
        refit: float = 0.02,
        singles: bool = False,
        window_optimism: float = 0.0,
        check_batch: int = 4,
    ):
        self.check_batch = check_positive_int("check_batch", check_batch)
        self.window_optimism = check_positive_float("window_optimism", window_optimism, allow_zero=True)
        self.singles = bool(singles)
        if samples != "auto":
            samples = check_positive_int("samples", samples, minimum=0)
        self.samples = samples
        self.sample_share = _check_share("sample_share", sample_share)
        if interactions != "auto":
            interactions = check_positive_int("interactions", interactions, minimum=0)
        self.interactions = interactions
        self.ridge = check_positive_float("ridge", ridge)
        self.optimism = check_positive_float("optimism", optimism, allow_zero=True)
        self.window = check_window_option("window", window, maximum=12)
        self.kicks = check_positive_int("kicks", kicks, minimum=0)
        self.kick_moves = check_positive_int("kick_moves", kick_moves)
        self.refit = _check_share("refit", refit)

    # ------------------------------------------------------------------ real evaluations
    def _ensure(self, masks: np.ndarray, all_or_nothing: bool = True) -> bool:
        """Make the D values of the rows of ``masks`` known (one oracle batch). When the unknown ones do
        not fit the budget: spend nothing and return False (``all_or_nothing``), or evaluate those that
        fit. True when all are known afterwards."""
        rows = self._known.unknown(masks)
        if len(rows) == 0:
            return True
        left = remaining_passes(self._oracle)
        complete = len(rows) <= left
        if not complete:
            if all_or_nothing or left <= 0:
                return False
            rows = rows[: int(left)]
        vals = self._oracle.evaluate(masks[rows])
        self._known.add(masks[rows], vals)
        return complete

    def _c_known(self, masks: np.ndarray) -> np.ndarray:
        """Real c of sets whose D values are known (no new forward pass for a standard problem)."""
        if not self._problem.standard_objective:
            return self._problem.c_values(masks)
        obj = self._problem.objective
        return obj.from_values(self._known.lookup(obj.request_masks(masks)), len(masks))

    def _real_c(self, masks: np.ndarray) -> np.ndarray | None:
        """Real c of the rows of ``masks``, or None (nothing spent) if their unknown sets do not fit."""
        if not self._ensure(self._problem.objective.request_masks(masks)):
            return None
        return self._c_known(masks)

    # ------------------------------------------------------------------ surrogate
    def _fit(self, t: int, force: bool = False):
        """Refit the model on every known set (when they grew by ``refit`` since the last fit, or ``force``)."""
        n = len(self._known)
        if not force and self._model is not None and n < self._fitted_on * (1.0 + self.refit) + 1:
            return self._model
        masks, y = self._known.arrays()
        model = _Model(t, np.zeros((0, 2), dtype=np.int64), self.ridge).fit(masks, y)
        m = self.interactions
        if m == "auto":
            m = t // 2 if len(y) >= 8 * t else 0
        if m > 0:
            model = _Model(t, _select_pairs(masks, model.resid, m), self.ridge).fit(masks, y)
        self._model, self._fitted_on = model, n
        self._fits += 1
        return model

    def _hybrid_c(self, masks: np.ndarray, optimistic: bool = True, scale: float = 1.0) -> np.ndarray:
        """c of the rows of ``masks`` from the hybrid function (real D where known, the model elsewhere)."""
        obj = self._problem.objective
        req = obj.request_masks(masks)
        vals = self._known.lookup(req)
        miss = np.isnan(vals)
        if miss.any():
            vals[miss] = self._model.predict(req[miss])
        c = obj.from_values(vals, len(masks))
        if optimistic and self.optimism > 0 and miss.any():  # an unseen set may be better than predicted (UCB)
            c = c + scale * self.optimism * self._model.rmse * miss.reshape(-1, len(masks)).sum(axis=0)
        return c

    def _lazy_greedy(self, run, t: int) -> np.ndarray:
        """Greedy on the objective, checking only the hybrid's best candidate per step: its unknown sets
        are evaluated until the hybrid's argmax is a known value (the real argmax when the model never
        underrates an unseen candidate by more than the optimism bonus). When the budget would no longer
        cover the rest of the chain, the remaining features are ranked by the hybrid's values of the
        current step instead (so the completed trajectory can still be evaluated)."""
        deleted = np.zeros(t, dtype=bool)
        placed: list[int] = []
        obj = self._problem.objective
        per = 2 if obj == "le-mo" else 1
        for step in range(t - 1):
            remaining = np.flatnonzero(~deleted)
            masks = np.repeat(deleted[None, :], len(remaining), axis=0)
            masks[np.arange(len(remaining)), remaining] = True
            while True:
                c = self._hybrid_c(masks)
                best = int(np.argmax(c))
                req = obj.request_masks(masks[best : best + 1])
                unknown = len(self._known.unknown(req))
                if not unknown:
                    break
                batch = obj.request_masks(masks[self._greedy_batch(masks, c, best)])
                more = len(self._known.unknown(batch))
                # a batch leaves the whole rest of the chain covered (P_(step+1) included: the completion by the
                # model's values below may choose another feature there), or the step checks the argmax alone
                if more > unknown and more + per * (t - 1 - step) <= remaining_passes(self._oracle):
                    self._ensure(batch)  # the argmax and its rivals in one call
                    continue
                # this check, then one new set a step after it; with check_batch > 1 the check must also leave
                # the completion below covered, whose P_(step+1) may be another unknown set (a check that changes
                # the argmax to another unseen candidate would otherwise leave a chain that cannot be scored);
                # check_batch=1 keeps the rule of the solver before
                need = unknown + per * (t - (1 if self.check_batch > 1 else 2) - step)
                if need > remaining_passes(self._oracle):
                    run.info["start"] = (
                        f"lazy greedy on the objective for {step} steps, completed by the model's values (the budget)"
                    )
                    c = self._hybrid_c(masks, optimistic=False)
                    rest = remaining[np.lexsort((remaining, -c))]
                    return np.array(placed + rest.tolist(), dtype=np.int64)
                self._ensure(req)
            choice = int(remaining[best])
            deleted[choice] = True
            placed.append(choice)
            self._fit(t)
        placed.append(int(np.flatnonzero(~deleted)[0]))
        return np.array(placed, dtype=np.int64)

    def _greedy_batch(self, masks: np.ndarray, c: np.ndarray, best: int) -> np.ndarray:
        """Rows of ``masks`` (lazy greedy candidates) checked together with the hybrid's argmax ``best``: those
        the one-at-a-time rule would check next if each checked value came out as the model predicts (their
        optimistic c above the argmax's plain prediction and above every known candidate's real c), the
        ``check_batch`` of largest optimistic c at most, the argmax first."""
        if self.check_batch <= 1:
            return np.array([best])
        plain = self._hybrid_c(masks, optimistic=False)
        known = c == plain  # no bonus: every value this candidate reads is known (or the bonus is 0)
        floor = max(plain[best], plain[known].max() if known.any() else -np.inf)
        rivals = np.flatnonzero((c > floor) & ~known)
        rivals = rivals[np.lexsort((rivals, -c[rivals]))]
        rivals = rivals[rivals != best][: self.check_batch - 1]
        return np.concatenate([[best], rivals]).astype(np.int64)

    def _lazy_window(self, run, a: int, w: int) -> bool:
        """The best reordering of positions a..a+w-1 of the incumbent by DP on the hybrid function,
        evaluating the unknown sets of the DP's chain until it is all known (then it is a real order at
        least as good as the current one). Returns True if the incumbent improved."""
        sigma, problem = self._sigma, self._problem
        t = problem.t
        win = sigma[a : a + w]
        n = 1 << w
        masks = np.zeros((n, t), dtype=bool)
        masks[:, sigma[:a]] = True
        masks[:, win] = ((np.arange(n)[:, None] >> np.arange(w)[None, :]) & 1).astype(bool)
        obj = problem.objective
        while True:  # ends: each pass makes at least one more of the window's sets known
            order, _best = kernels.chain_dp(self._hybrid_c(masks, scale=self.window_optimism))
            keys = np.cumsum(np.left_shift(1, order))[:-1]  # the chain's inner sets P_(a+1)..P_(a+w-1)
            req = obj.request_masks(masks[keys])
            if not self._known.unknown(req).size:
                break
            self._checked += 1
            if not self._ensure(req):
                run.stopped = "budget"
                return False
            self._fit(t)
        new = sigma.copy()
        new[a : a + w] = win[order]
        c = self._c_known(masks[keys])
        delta = float(c.sum() - self._chain[a + 1 : a + w].sum())
        if delta > 1e-12 * (1.0 + abs(self._score)):
            self._sigma = new
            self._chain = self._chain.copy()
            self._chain[a + 1 : a + w] = c
            self._score = float(self._chain.sum())
            run.report(new, self._score)
            return True
        return False

    def _lazy_windows(self, run, starts: list, w: int) -> bool:
        """``_lazy_window`` for several disjoint windows of the incumbent at once: a window's sets
        (``P_a`` plus subsets of its w features) do not depend on how a disjoint window is reordered, so each
        round runs every pending window's DP on the hybrid and asks for the unknown sets of all their chains in
        one oracle call, until each window's best chain is known; then every improving move is kept (their
        gains add up). When a round does not fit the budget, the windows' requests are tried one at a time in
        order and those that do not fit are dropped. Returns True if the incumbent improved."""
        sigma, problem = self._sigma, self._problem
        t = problem.t
        obj = problem.objective
        n = 1 << w
        local = ((np.arange(n)[:, None] >> np.arange(w)[None, :]) & 1).astype(bool)
        windows = {}
        for a in starts:
            run.tick()
            masks = np.zeros((n, t), dtype=bool)
            masks[:, sigma[:a]] = True
            masks[:, sigma[a : a + w]] = local
            windows[a] = masks
        resolved: dict = {}
        while windows:  # ends: each round makes at least one more set of every pending window known (or drops it)
            reqs = {}
            for a, masks in windows.items():
                order, _best = kernels.chain_dp(self._hybrid_c(masks, scale=self.window_optimism))
                keys = np.cumsum(np.left_shift(1, order))[:-1]  # the chain's inner sets P_(a+1)..P_(a+w-1)
                req = obj.request_masks(masks[keys])
                if self._known.unknown(req).size:
                    reqs[a] = req
                else:
                    resolved[a] = (order, keys, masks)
            windows = {a: windows[a] for a in reqs}
            if not reqs:
                break
            self._checked += len(reqs)
            if not self._ensure(np.concatenate(list(reqs.values()))):
                for a, req in reqs.items():  # what fits, in order
                    if not self._ensure(req):
                        run.stopped = "budget"
                        del windows[a]
            self._fit(t)
        improved = False
        for a in starts:
            if a not in resolved:
                continue
            order, keys, masks = resolved[a]
            c = self._c_known(masks[keys])
            delta = float(c.sum() - self._chain[a + 1 : a + w].sum())
            if delta > 1e-12 * (1.0 + abs(self._score)):
                if not improved:
                    self._sigma, self._chain = self._sigma.copy(), self._chain.copy()
                self._sigma[a : a + w] = sigma[a : a + w][order]
                self._chain[a + 1 : a + w] = c
                improved = True
        if improved:
            self._score = float(self._chain.sum())
            run.report(self._sigma, self._score)
        return improved

    def _lazy_descent(self, run, t: int) -> None:
        w = min(self.window, t)
        starts = list(range(0, t - w + 1, max(1, w // 2)))
        if starts[-1] != t - w:
            starts.append(t - w)
        if self.check_batch > 1:  # the sweep's windows in groups of disjoint ones, each group checked together
            groups: list = []
            for a in starts:
                for g in groups:
                    if g[-1] + w <= a:
                        g.append(a)
                        break
                else:
                    groups.append([a])
        improved = True
        while improved:
            improved = False
            if self.check_batch > 1:
                for g in groups:
                    improved |= self._lazy_windows(run, g, w)
                continue
            for a in starts:
                run.tick()
                improved |= self._lazy_window(run, a, w)

    def _design(self, t: int, budget_passes: float) -> int:
        if self.samples != "auto":
            return self.samples
        if not np.isfinite(budget_passes):
            return 4 * t
        return int(min(8 * t, max(1, round(self.sample_share * budget_passes / 2))))

    def _search(self, problem, run):
        t = problem.t
        check_window_option("window", min(self.window, t), t)
        self._oracle, self._problem = problem.oracle, problem
        self._known = _Known(problem.oracle)
        self._model, self._fitted_on, self._fits, self._checked = None, 0, 0, 0
        run.info.update(start="lazy greedy on the objective, checked on the model's best candidates", kicks=0)
        try:
            self._run(problem, run, t, run.rng)
        finally:
            run.info.update(known_sets=len(self._known), fits=self._fits, window_checks=self._checked)
            if self._model is not None:
                run.info.update(model_r2=float(self._model.r2), model_pairs=int(len(self._model.pairs)))

    def _run(self, problem, run, t, rng):
        n = self._design(t, remaining_passes(self._oracle))
        run.info["samples"] = n
        # the design: {} and all, then random coalitions of uniform sizes with their complements
        self._ensure(np.concatenate([np.zeros((1, t), dtype=bool), np.ones((1, t), dtype=bool)]), False)
        if self.singles:  # single-feature deletions and their complements (2t sets)
            eye = np.eye(t, dtype=bool)
            self._ensure(np.concatenate([eye, ~eye]), all_or_nothing=False)
        if n:
            sizes = rng.integers(1, t, size=n)
            masks = np.arange(t)[None, :] < sizes[:, None]
            masks = np.take_along_axis(masks, np.argsort(rng.random((n, t)), axis=1), axis=1)
            self._ensure(np.concatenate([masks, ~masks]), all_or_nothing=False)
        run.info["design_forward_passes"] = run.passes_used
        model = self._fit(t, force=True)
        run.fallback(np.argsort(-model.weights, kind="stable").astype(np.int64))  # the additive model's optimum
        sigma = self._lazy_greedy(run, t)
        run.fallback(sigma)
        c = self._real_c(problem.prefix_masks(sigma, np.arange(t + 1)))
        if c is None:  # the budget was too small for even this chain
            run.stopped = "budget"
            return
        self._sigma, self._chain, self._score = sigma, c, float(c.sum())
        run.report(sigma, self._score)
        run.info["start_forward_passes"] = run.passes_used
        self._lazy_descent(run, t)
        nb = get_neighbourhood("complete", t)
        best = (self._sigma, self._chain, self._score)
        for _ in range(self.kicks):  # iterated local search: kick the best, descend lazily, keep the better
            kicked = best[0].copy()
            for _ in range(self.kick_moves):
                kicked = nb.propose(kicked, rng)[0]
            c = self._real_c(problem.prefix_masks(kicked, np.arange(t + 1)))
            if c is None:
                run.stopped = "budget"
                return
            run.info["kicks"] += 1
            self._sigma, self._chain, self._score = kicked, c, float(c.sum())
            self._lazy_descent(run, t)
            if self._score > best[2]:
                best = (self._sigma, self._chain, self._score)
