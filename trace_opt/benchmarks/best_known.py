"""Best-known solutions for instances too large for a table (t = 49 and beyond), as TSPLIB keeps them.

Without the 2^t table there is no exact optimum, so progress is measured against the best trajectory
any run has found. A *best-known file* holds it for one problem and one objective:

``<name>.best.json`` (UTF-8 JSON)
    ``format`` = ``"trace-best-known"``, ``format_version`` = 1, ``name``, ``t``, ``objective``;
    ``problem``: ``{"family": ..., "params": {...}}``, a generator of ``trace_opt.benchmarks.families``
    with all its parameters (t and seed included), so the problem is rebuilt exactly from the file;
    ``best``: ``score`` (the maximised chain sum), ``value`` (the paper's sign), ``trajectory``,
    ``solver`` (spec label), ``solver_name``, ``solver_params``, ``budget`` (forward passes),
    ``seed``, ``forward_passes`` (what the run used), ``found`` (UTC time);
    ``certificates``: ``window`` = the largest w for which the trajectory was checked to be
    window-optimal (no reordering of any w consecutive positions improves it; ``window_certificate``),
    ``upper_bound`` = a valid upper bound of the optimum with its ``kind`` (for the ``logic`` family an
    interval bound from the generator's coefficients: loose, but a bound), and ``gap_to_bound`` =
    ``(upper_bound - score) / (upper_bound - random_mean)``;
    ``random_mean`` (with ``random_mean_kind``): the expected score of a random trajectory, exactly 0
    for ``le-mo`` (level k and level t - k cancel), else estimated from ``random_samples`` random
    orders (``random_mean_estimate``: the exact value needs the per-level means over all 2^t sets);
    ``history``: every improvement (score, solver, budget, seed, found).

``update_best_known(path, ...)`` runs a solver and replaces the file **only when the run beats the
stored score** (strictly, beyond a relative 1e-12), atomically (temporary file + rename, under an
exclusive lock on ``<file>.lock``, re-reading the file inside the lock), so a worse run never
replaces a better one and a reader never sees half a file. Loading checks the file and, given the
problem, recomputes the stored trajectory's score: a corrupt file, another format, a trajectory that
is not a permutation, another problem or a score that does not match gets a ValueError naming the file.

``python -m trace_opt instances best-known --file F.best.json --family logic --t 49 --problem-seed 0 ...
--solver tabu --budget 20000 --seed 0 [--certify-window 8]`` does one such run: ``--problem-seed`` is the
generator's seed (the problem, stored as ``problem.params.seed``), ``--seed`` the search's.

Settings: a run's search is an ``ExplainSettings`` (``best_known_with_settings``); what applies is ``solver``,
``solver_options``, ``budget``, ``seed`` and ``objective`` (``instances.solve_settings``); features,
reference, output and the rest do not (the generator is the oracle).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np

from solvers import window_move
from trace_opt.benchmarks.families import LogicSetFunction, make_generator
from trace_opt.benchmarks.instances import parse_solver_spec, solve_settings, solver_label
from trace_opt.core.io import atomic_write_json, json_values
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.problem import TraceProblem
from trace_opt.core.validation import check_choice, check_positive_int
from trace_opt.explanation.settings import ExplainSettings

FORMAT = "trace-best-known"
FORMAT_VERSION = 1
#: relative margin by which a run must beat the stored score to replace it
IMPROVE_RTOL = 1e-12
#: relative tolerance when the stored score is recomputed from the stored trajectory
CHECK_RTOL = 1e-9


def problem_spec(family: str, **params) -> dict:
    """The canonical ``{"family", "params"}`` of a generator (all its parameters, defaults included)."""
    gen = make_generator(family, **params)
    return {"family": family, "params": json.loads(json.dumps(gen.params()))}


def make_problem(spec: dict, objective: str = "le-mo") -> TraceProblem:
    """A fresh ``TraceProblem`` (counted, cached oracle) over the generator a spec names."""
    gen = make_generator(spec["family"], **spec["params"])
    return TraceProblem(gen.oracle(), objective)


# ------------------------------------------------------------------------------- certificates
def window_certificate(problem: TraceProblem, sigma, w: int, rtol: float = 1e-12) -> dict:
    """Whether no reordering of any ``w`` consecutive positions of ``sigma`` improves its score.

    Exact for each window (DP over its 2^w subsets, ``solvers.window_move``); cost about
    ``(t - w + 1) 2^w`` sets. Returns ``{"window": w, "locally_optimal": bool, "best_delta": the
    largest improvement found, "at": its window start}``.
    """
    t = problem.t
    w = check_positive_int("w", w, minimum=2)
    if w > min(t, 20):
        raise ValueError(f"w={w} is not valid; expected 2 <= w <= min(t, 20) (2^w sets per window)")
    sigma = problem.check_trajectory(sigma)
    chain = problem.chain(sigma)
    tol = rtol * max(1.0, float(np.abs(chain).sum()))
    best, at = 0.0, None
    for a in range(t - w + 1):
        _, _, delta = window_move(problem, sigma, chain, a, w)
        if delta > best:
            best, at = float(delta), a
    return {"window": w, "locally_optimal": bool(best <= tol), "best_delta": best, "at": at}


def interval_upper_bound(spec: dict, objective: str = "le-mo") -> dict | None:
    """A valid upper bound of the optimum from the generator's coefficients, or None (no bound known).

    ``logic`` family: every D(S) lies in ``[lo, hi]`` (each additive weight and each term contributes
    its coefficient or 0; ``tanh`` is monotone), and the chain's first and last sets are fixed
    ({} and all), so the optimum is at most ``c({}) + c(all) + (t - 1) * max c`` with ``max c`` =
    ``hi`` (le), ``-lo`` (mo), ``hi - lo`` (le-mo). Loose, but a certificate.
    """
    check_choice("objective", objective, OBJECTIVES)
    gen = make_generator(spec["family"], **spec["params"])
    if not isinstance(gen, LogicSetFunction):
        return None
    a = gen.interaction
    add = (1 - a) * gen.weights / max(gen.sd_additive, 1e-300)
    inter = a * gen.term_weights / max(gen.sd_interaction, 1e-300)
    coef = np.concatenate([add, inter])
    lo, hi = float(np.minimum(coef, 0).sum()), float(np.maximum(coef, 0).sum())
    if gen.saturation > 0:
        lo, hi = (float(np.tanh(gen.saturation * z) / gen.saturation) for z in (lo, hi))
    t = gen.t
    full = (1 << t) - 1
    d0, d1 = (float(x) for x in gen.values(np.array([0, full], dtype=np.uint64)))
    if objective == "le":
        ends, cmax = d0 + d1, hi
    elif objective == "mo":
        ends, cmax = -d1 - d0, -lo
    else:
        ends, cmax = (d0 - d1) + (d1 - d0), hi - lo
    return {"upper_bound": ends + (t - 1) * cmax, "kind": "interval bound from the generator's coefficients"}


def random_mean_estimate(problem: TraceProblem, samples: int = 200, seed: int = 0) -> float:
    """The mean score of ``samples`` uniformly random trajectories (seeded)."""
    rng = np.random.default_rng(seed)
    sigmas = np.stack([rng.permutation(problem.t) for _ in range(check_positive_int("samples", samples))])
    return float(np.mean(problem.scores(sigmas)))


# ------------------------------------------------------------------------------------- files
def _fail(path, what: str) -> ValueError:
    return ValueError(f"best-known file {path}: {what}")


def load_best_known(path, spec: dict | None = None, objective: str | None = None, check_score: bool = True) -> dict:
    """Read and check a best-known file. With ``spec`` / ``objective``, refuse a file for another problem
    or objective; with ``check_score``, recompute the stored trajectory's score from the problem and
    refuse a mismatch. Every error is a ValueError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"is corrupt or truncated (not valid JSON: {exc})") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(path, f"is not a {FORMAT!r} file")
    if data.get("format_version") != FORMAT_VERSION:
        raise _fail(path, f"has format_version={data.get('format_version')!r}; this version reads {FORMAT_VERSION}")
    for key in ("name", "t", "objective", "problem", "best", "history"):
        if key not in data:
            raise _fail(path, f"is missing the field {key!r}")
    t, best, prob = data["t"], data["best"], data["problem"]
    if not isinstance(t, int) or isinstance(t, bool) or t < 2:
        raise _fail(path, f"has t={t!r}; expected an integer >= 2")
    if data["objective"] not in OBJECTIVES:
        raise _fail(path, f"has objective={data['objective']!r}; expected one of {sorted(OBJECTIVES)}")
    if not isinstance(prob, dict) or not isinstance(prob.get("params"), dict) or "family" not in prob:
        raise _fail(path, "'problem' must be an object with 'family' and 'params'")
    if prob["params"].get("t") != t:
        raise _fail(path, f"its problem has t={prob['params'].get('t')!r} but the file says t={t}")
    if not isinstance(best, dict) or not {"score", "trajectory", "solver", "budget", "seed"} <= set(best):
        raise _fail(path, "'best' must hold score, trajectory, solver, budget and seed")
    score = best["score"]
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
        raise _fail(path, f"best score {score!r} is not a finite number")
    traj = best["trajectory"]
    if (
        not isinstance(traj, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in traj)
        or sorted(traj) != list(range(t))
    ):
        raise _fail(path, f"best trajectory is not a permutation of 0..{t - 1}")
    if spec is not None and json.loads(json.dumps(spec)) != prob:
        raise _fail(
            path,
            f"is for the problem {json.dumps(prob, sort_keys=True)}, not the requested "
            f"{json.dumps(spec, sort_keys=True)}",
        )
    if objective is not None and objective != data["objective"]:
        raise _fail(path, f"is for objective {data['objective']!r}, not {objective!r}")
    if check_score:
        try:
            problem = make_problem(prob, data["objective"])
        except ValueError as exc:
            raise _fail(path, f"its problem cannot be built ({exc})") from None
        live = float(problem.score(np.array(traj)))
        if not math.isclose(live, float(score), rel_tol=CHECK_RTOL, abs_tol=CHECK_RTOL):
            raise _fail(
                path,
                f"the stored score {score!r} does not match its trajectory's score {live!r} on the "
                "problem (edited, corrupt or for another problem)",
            )
    return data


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _default_name(path: Path) -> str:
    n = path.name
    for suffix in (".best.json", ".json"):
        if n.endswith(suffix) and len(n) > len(suffix):
            return n[: -len(suffix)]
    return n


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def update_best_known(
    path,
    spec: dict,
    solver="tabu",
    budget: int = 10_000,
    seed: int = 0,
    objective: str = "le-mo",
    certify_window: int | None = None,
    random_samples: int = 200,
    name: str | None = None,
    log=None,
) -> dict:
    """Run ``solver`` (a spec as ``instances.parse_solver_spec`` takes: a name, or a JSON object / dict with
    its params) on the problem ``spec`` names and store its trajectory in the best-known file at ``path`` if it
    beats the stored one (or none exists). The keyword form of ``best_known_with_settings``."""
    label, solver_name, params = parse_solver_spec(solver)
    settings = solve_settings(objective).replace(
        solver=solver_name, solver_options=params, budget=check_positive_int("budget", budget), seed=seed
    )
    return best_known_with_settings(
        path,
        spec,
        settings,
        certify_window=certify_window,
        random_samples=random_samples,
        name=name,
        log=log,
        label=label,
    )


def best_known_with_settings(
    path,
    spec: dict,
    settings: ExplainSettings,
    *,
    certify_window: int | None = None,
    random_samples: int = 200,
    name: str | None = None,
    log=None,
    label: str | None = None,
) -> dict:
    """Run the search of ``settings`` (what applies: solver, solver_options, budget, seed, objective) on the
    problem ``spec`` names and store its trajectory in the best-known file at ``path`` if it beats the stored
    one (or none exists). ``label``: the solver's label in the file (default: ``instances.solver_label``).

    Returns ``{"path", "improved" (bool), "score" (this run), "previous" (stored score or None),
    "best" (the file's best after the call)}``. An existing file is checked first (``load_best_known``:
    same problem, same objective, score matching its trajectory), so a corrupt or mismatched file is
    never overwritten. ``certify_window``: after an improvement, record ``window_certificate`` for that w.
    """
    path = Path(path)
    if not isinstance(settings.solver, str) or settings.budget is None or settings.seed is None:
        raise ValueError("a best-known run needs a solver by name, a budget (forward passes) and a seed")
    budget = check_positive_int("budget", settings.budget)
    objective, seed = settings.objective, settings.seed
    problem = make_problem(spec, objective)
    res = settings.solver_object().solve(problem, budget=budget, seed=seed, curves=False)
    score = float(problem.score(res.trajectory))
    entry = {
        "score": score,
        "value": float(problem.to_paper_units(score)),
        "trajectory": [int(i) for i in res.trajectory],
        "solver": label or solver_label(settings.solver, settings.solver_options),
        "solver_name": settings.solver,
        "solver_params": json_values(settings.solver_options),
        "budget": budget,
        "seed": int(seed),
        "forward_passes": int(res.forward_passes),
        "found": _now(),
    }
    with _locked(path):
        old = load_best_known(path, spec, objective) if path.exists() else None
        previous = float(old["best"]["score"]) if old else None
        improved = previous is None or score > previous + IMPROVE_RTOL * max(1.0, abs(previous))
        if improved:
            data = _best_known_file(
                path, spec, objective, entry, res.trajectory, old, name, certify_window, random_samples
            )
            atomic_write_json(path, data)
        best = entry if improved else old["best"]
    if log:
        verb = "improved" if improved else "kept"
        log(
            f"{path}: {verb}; this run {score:.6g} ({entry['solver']}, {budget} passes, seed {seed}), "
            f"stored before {previous if previous is not None else 'none'}"
        )
    return {"path": path, "improved": improved, "score": score, "previous": previous, "best": best}


def _best_known_file(path, spec, objective, entry, trajectory, old, name, certify_window, random_samples) -> dict:
    """The contents of a best-known file whose best is ``entry``: its certificates (the interval bound and
    the gap to it, a window certificate when asked), the random mean, the history (``old``'s plus this run)."""
    fresh = make_problem(spec, objective)
    certificates = {}
    bound = interval_upper_bound(spec, objective)
    if objective == "le-mo":  # exact: sum_k (mean_{|S|=k} D - mean_{|S|=t-k} D) = 0 for every D
        rnd, rnd_kind = 0.0, "exact (0 for le-mo)"
    else:
        rnd, rnd_kind = random_mean_estimate(fresh, random_samples, seed=0), f"{random_samples} random orders"
    score = entry["score"]
    if bound is not None:
        ub = bound["upper_bound"]
        certificates.update(
            upper_bound=ub,
            upper_bound_kind=bound["kind"],
            gap_to_bound=(ub - score) / (ub - rnd) if ub > rnd else 0.0,
        )
    if certify_window:
        certificates["window"] = window_certificate(fresh, trajectory, certify_window)
    history = (old["history"] if old else []) + [
        {k: entry[k] for k in ("score", "solver", "budget", "seed", "forward_passes", "found")}
    ]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or (old["name"] if old else _default_name(path)),
        "t": fresh.t,
        "objective": objective,
        "problem": json.loads(json.dumps(spec)),
        "best": entry,
        "certificates": certificates,
        "random_mean": rnd,
        "random_mean_kind": rnd_kind,
        "history": history,
    }


def gap_to_best_known(path, score: float) -> float:
    """``(best - score) / |best|`` against a best-known file, as TSPLIB reports the excess over the best known."""
    data = load_best_known(path, check_score=False)
    best = float(data["best"]["score"])
    return (best - float(score)) / abs(best) if best != 0 else float(best - score)
