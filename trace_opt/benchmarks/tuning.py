"""Hyperparameter tuning of the solvers with Optuna.

Objective of a trial: the **mean normalised gap** to the exact optimum (``Instance.normalised_gap``:
0 = optimal, 1 = a random order's mean) over a fixed list of evaluation units (instance, seed), each
solved within the same forward-pass budget on a fresh table oracle (minimised); or, with live
problems instead of instances, the mean score (maximised). After each unit the running mean is
reported (``trial.report(value, step=unit)``) so a pruner stops bad trials early. Seeds are fixed:
every trial sees the same units with the same seeds (common random numbers).

Resumable: the default storage is a local SQLite file. A study stops when it holds ``n_trials``
finished (complete or pruned) trials; rerunning the same call continues where it stopped. Each
finished unit of a trial is stored in the trial's user attributes, and a trial that failed (an
exception, Ctrl-C, or a process killed while its heartbeat was on) is enqueued again with the same
parameters and the units already done, so nothing finished is recomputed. Any Optuna storage URL
works (several processes may work on one study).

Sampler seeds: trial number n is sampled by a TPE sampler seeded from ``(sampler_seed, n)`` (a
fresh ``TPESampler`` per trial). A single-process study is therefore reproducible from
``sampler_seed`` (same seed, same storage state: same proposals), a resumed study draws new points
(its trials have new numbers), and several processes working on one study at the same time never
share a seed: the storage gives every trial its own number, so workers started together propose
different parameters instead of replaying the same draws (with one seed per process, they would).

Search spaces: ``SEARCH_SPACES[solver]`` maps a constructor parameter to ``("float", low, high)``,
``("float", low, high, "log")``, ``("int", low, high[, "log"])``, ``("categorical", [choices])`` or a
fixed value. ``space=`` entries are merged over the default (a fixed value pins a parameter).
"""

from __future__ import annotations

import inspect
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solvers import SOLVERS, available_solvers, get_solver
from trace_opt.benchmarks.instances import Instance
from trace_opt.core.io import atomic_savefig, atomic_write_json, check_output_dir, json_values, stop_on_interrupt
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.paired import paired_comparisons, standard_error
from trace_opt.core.problem import TraceProblem
from trace_opt.core.validation import check_choice, check_positive_int

_NEIGHBOURHOODS = ["complete", "bubble", "star", "vertex-insertion", "block-reverse", "block-insertion", "mix"]
_INITS = ["greedy", "greedy-morf", "random"]
#: iterations are pinned high so that the forward-pass budget is what stops a tuned solver
_MANY = 1_000_000
#: ... but a solve also stops after this many iterations per forward pass of budget: on a small
#: instance every reachable set may end up cached, and then the pass budget would never bind
ITERATION_CAP_PER_PASS = 10

SEARCH_SPACES: dict[str, dict] = {
    "sa": {
        "T0": ("float", 1e-2, 20.0, "log"),
        "eta": ("float", 0.99, 0.99999),
        "neighbourhood": ("categorical", _NEIGHBOURHOODS),
        "init": ("categorical", _INITS),
        "iterations": _MANY,
    },
    "tabu": {
        "candidates": ("int", 4, 128, "log"),
        "tenure": ("int", 0, 16),
        "neighbourhood": ("categorical", _NEIGHBOURHOODS),
        "init": ("categorical", _INITS),
        "stagnation": ("int", 5, 200, "log"),
        "restart_moves": ("int", 1, 8),
        "iterations": _MANY,
    },
    "ga": {
        "population": ("int", 6, 64, "log"),
        "tournament": ("int", 2, 5),
        "crossover": ("categorical", ["ox", "pmx", "both"]),
        "crossover_rate": ("float", 0.0, 1.0),
        "mutation": ("categorical", ["swap", "inversion", "both"]),
        "mutation_rate": ("float", 0.0, 1.0),
        "elitism": ("int", 0, 4),
        "generations": _MANY,
    },
    "beam": {"width": ("int", 1, 64, "log"), "direction": ("categorical", ["lerf", "morf"])},
    "window-dp": {
        "window": ("int", 3, 10),
        "kicks": ("int", 0, 100),
        "kick_moves": ("int", 1, 6),
        "init": ("categorical", _INITS),
        "neighbourhood": ("categorical", _NEIGHBOURHOODS),
    },
    "greedy": {"direction": ("categorical", ["lerf", "morf"])},
}
#: sa-batch takes sa's parameters (and gives sa's trajectory for the same seed) plus its batching,
#: which changes the forward passes spent (speculative proposals), hence what a pass budget buys
SEARCH_SPACES["sa-batch"] = {
    **SEARCH_SPACES["sa"],
    "width": ("int", 1, 128, "log"),
    "adaptive": ("categorical", [True, False]),
}


def _is_dist(spec) -> bool:
    return isinstance(spec, (tuple, list)) and len(spec) >= 2 and spec[0] in ("float", "int", "categorical")


def resolve_space(solver: str, space: dict | None = None) -> dict:
    """The default space of ``solver`` with ``space`` merged over it, checked against the constructor."""

    if solver not in SOLVERS:
        raise ValueError(f"solver={solver!r} is unknown; expected one of {available_solvers()}")
    if space is not None and not isinstance(space, dict):
        raise ValueError(f"space must be a dict of parameter -> spec; got {type(space).__name__}")
    merged = dict(SEARCH_SPACES.get(solver, {}))
    merged.update(space or {})
    if not any(_is_dist(s) for s in merged.values()):
        raise ValueError(
            f"solver {solver!r} has no search space; give space={{param: spec}} (e.g. {{'x': ('float', 0.1, 1.0)}})"
        )
    accepted = inspect.signature(SOLVERS[solver].__init__).parameters
    for name, spec in merged.items():
        if name not in accepted:
            raise ValueError(
                f"space: {name!r} is not a parameter of solver {solver!r}; accepted: "
                f"{[p for p in accepted if p != 'self']}"
            )
        if isinstance(spec, (tuple, list)) and spec and spec[0] in ("float", "int", "categorical"):
            kind = spec[0]
            if kind == "categorical":
                if len(spec) != 2 or not isinstance(spec[1], (list, tuple)) or not spec[1]:
                    raise ValueError(f"space[{name!r}]={spec!r}: expected ('categorical', [choices])")
            elif len(spec) not in (3, 4) or (len(spec) == 4 and spec[3] != "log") or not spec[1] <= spec[2]:
                raise ValueError(
                    f"space[{name!r}]={spec!r}: expected ('{kind}', low, high) or "
                    f"('{kind}', low, high, 'log') with low <= high"
                )
    return merged


def suggest_params(trial, space: dict) -> dict:
    """Draw one parameter set from a resolved space with an Optuna trial."""
    params = {}
    for name, spec in space.items():
        if not _is_dist(spec):
            params[name] = spec
        elif spec[0] == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec[1]))
        elif spec[0] == "float":
            params[name] = trial.suggest_float(name, float(spec[1]), float(spec[2]), log=len(spec) == 4)
        else:
            params[name] = trial.suggest_int(name, int(spec[1]), int(spec[2]), log=len(spec) == 4)
    return params


# --------------------------------------------------------------------------------- evaluation
def _units(instances, problems, seeds) -> list[tuple[int, int]]:
    items = instances if instances is not None else problems
    return [(i, int(s)) for i in range(len(items)) for s in seeds]


def evaluate_unit(
    solver,
    params: dict,
    budget: int,
    objective: str,
    seed: int,
    instance=None,
    problem=None,
    iteration_cap: bool = True,
) -> dict:
    """One solve within ``budget`` forward passes (and, with ``iteration_cap``, at most
    ``ITERATION_CAP_PER_PASS * budget`` iterations): on a fresh table oracle of ``instance`` (returns its
    normalised gap), or on a live ``problem`` whose oracle cache is cleared first (returns its score)."""
    solver_obj = get_solver(solver, **params)
    # A cap on iterations too: once every set a solver can reach is cached, passes stop growing.
    budget = (
        {"forward_passes": int(budget), "iterations": ITERATION_CAP_PER_PASS * int(budget)}
        if iteration_cap
        else {"forward_passes": int(budget)}
    )
    if instance is not None:
        res = solver_obj.solve(instance.problem(objective), budget=budget, seed=seed, curves=False)
        score = instance.score(res.trajectory, objective)
        return {
            "value": instance.normalised_gap(score, objective),
            "score": score,
            "forward_passes": res.forward_passes,
            "iterations": res.iterations,
            "stopped": res.stopped,
        }
    problem.oracle.clear_cache()
    res = solver_obj.solve(problem, budget=budget, seed=seed, curves=False)
    return {
        "value": float(res.score),
        "score": float(res.score),
        "forward_passes": res.forward_passes,
        "iterations": res.iterations,
        "stopped": res.stopped,
    }


def evaluate_params(
    solver: str, params: dict, instances=None, budget: int = 1000, seeds=(0,), objective: str = "le-mo", problems=None
) -> dict:
    """Mean normalised gap (instances) or mean score (problems) of fixed parameters, per unit too."""
    _check_inputs(instances, problems)
    rows = []
    for i, seed in _units(instances, problems, seeds):
        row = evaluate_unit(
            solver,
            params,
            budget,
            objective,
            seed,
            instance=instances[i] if instances is not None else None,
            problem=problems[i] if problems is not None else None,
        )
        row.update(unit=i, seed=seed)
        rows.append(row)
    vals = np.array([r["value"] for r in rows])
    return {
        "solver": solver,
        "params": params,
        "budget": budget,
        "objective": objective,
        "metric": "mean_normalised_gap" if instances is not None else "mean_score",
        "mean": float(vals.mean()),
        "sem": standard_error(vals, single=0.0),
        "mean_forward_passes": float(np.mean([r["forward_passes"] for r in rows])),
        "units": rows,
    }


def _check_inputs(instances, problems):
    if (instances is None) == (problems is None):
        raise ValueError("give exactly one of instances= (a list of Instance) or problems= (a list of TraceProblem)")
    items = instances if instances is not None else problems
    if isinstance(items, (str, bytes)) or not hasattr(items, "__len__"):
        raise ValueError(f"instances/problems must be a list; got {type(items).__name__}")
    if not items:
        raise ValueError("instances/problems is empty; give at least one")

    kind, name = (Instance, "instances") if instances is not None else (TraceProblem, "problems")
    bad = [type(v).__name__ for v in items if not isinstance(v, kind)]
    if bad:
        raise ValueError(
            f"{name} must hold {kind.__name__} objects (e.g. from trace_opt.benchmarks.instances.load_library); "
            f"got {bad[0]}"
        )


# ------------------------------------------------------------------------------------- tuning
@dataclass
class TuneResult:
    """What ``tune`` returns: the study, its best parameters and value, and the files written."""

    study: object
    best_params: dict
    best_value: float
    n_complete: int
    n_pruned: int
    n_failed: int
    units_computed: int  # solves run by this call (units restored from failed trials are not counted)
    files: dict


def _storage(storage, out_dir: Path | None, heartbeat: int | None):
    import optuna

    if storage is None:
        if out_dir is None:
            raise ValueError("give storage= (an Optuna storage URL) or out_dir= (for a local SQLite file)")
        # as given (relative stays relative: no machine path is recorded in the outputs)
        storage = f"sqlite:///{(out_dir / 'study.db').as_posix()}"
        _make_sqlite_dir(storage)  # the default file's folder is the output folder
    if isinstance(storage, str) and storage.split(":", 1)[0].split("+", 1)[0] in (
        "sqlite",
        "postgresql",
        "mysql",
        "oracle",
        "mssql",
    ):
        _check_sqlite_dir(storage)
        kwargs = {}
        if heartbeat:
            params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
            cb = (
                "heartbeat_stale_trial_callback"
                if "heartbeat_stale_trial_callback" in params
                else "failed_trial_callback"
            )
            kwargs = {"heartbeat_interval": int(heartbeat), "grace_period": 3 * int(heartbeat), cb: _retry_failed}
        import sqlalchemy.exc

        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(storage, **kwargs), storage
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as exc:
                # workers started together on a new database race to create its tables: try again
                if attempt == 4:
                    raise ValueError(f"storage={storage!r} could not be opened: {exc.orig or exc}") from None
                time.sleep(0.2 * (attempt + 1))
            except sqlalchemy.exc.DatabaseError as exc:  # e.g. a file that is not an SQLite database
                raise ValueError(
                    f"storage={storage!r} could not be opened as an Optuna database: "
                    f"{getattr(exc, 'orig', None) or exc}; give a new file or an Optuna study's "
                    "database"
                ) from None
            except (sqlalchemy.exc.ArgumentError, ImportError) as exc:  # malformed URL, driver not installed
                raise ValueError(
                    f"storage={storage!r} is not a usable Optuna storage URL ({exc}); expected e.g. "
                    "sqlite:///runs/tune/study.db or postgresql://USER@HOST/DB"
                ) from None
    if isinstance(storage, str):
        raise ValueError(
            f"storage={storage!r} is not a supported storage URL; expected sqlite:///PATH, "
            "postgresql://..., mysql://... (or an Optuna storage object)"
        )
    return storage, type(storage).__name__


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another storage, an in-memory or URI database, or a URL that
    does not parse: Optuna reports that one)."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception:  # noqa: BLE001 - let Optuna report a malformed URL
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _check_sqlite_dir(url: str) -> None:
    """A SQLite URL given by the user: a relative path's folders are created under the working directory
    (as an output folder's are); an absolute path's folder must exist (``sqlite:////x/y.db`` for a meant
    ``sqlite:///x/y.db`` would create folders anywhere); the file, if there, must be a file."""
    path = _sqlite_file(url)
    if path is None:
        return
    if not path.is_absolute():
        check_output_dir("storage", path.parent)  # checked here, created when the storage opens
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise ValueError(
            f"storage={url!r}: the folder {str(path.parent)!r} does not exist; create it first "
            "(an absolute storage path's folders are not created) or check the path "
            "(sqlite:///relative/x.db, sqlite:////absolute/x.db)"
        )
    if path.exists() and not path.is_file():
        raise ValueError(f"storage={url!r}: {str(path)!r} is not a file")


def _make_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite file URL (SQLite creates the file, not its directory)."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def trial_seeded_sampler(seed: int = 0, **tpe_options):
    """An Optuna sampler that samples trial n with a fresh ``TPESampler(seed=<hash of (seed, n)>, **tpe_options)``.

    Reproducible in one process from ``seed``; concurrent workers on one study get distinct seeds
    (one per trial number) and so propose distinct parameters. See the module docstring.
    """
    import optuna

    class TrialSeededSampler(optuna.samplers.BaseSampler):
        def __init__(self):
            self.seed, self.tpe_options = int(seed), dict(tpe_options)
            self._number, self._tpe = None, None

        def trial_seed(self, number: int) -> int:
            return int(np.random.SeedSequence([self.seed, int(number)]).generate_state(1)[0])

        def _for(self, trial):
            if self._tpe is None or self._number != trial.number:
                self._number = trial.number
                self._tpe = optuna.samplers.TPESampler(seed=self.trial_seed(trial.number), **self.tpe_options)
            return self._tpe

        def infer_relative_search_space(self, study, trial):
            return self._for(trial).infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._for(trial).sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study, trial):
            self._for(trial).before_trial(study, trial)

        def after_trial(self, study, trial, state, values):
            self._for(trial).after_trial(study, trial, state, values)

        def reseed_rng(self):  # Optuna calls this for n_jobs > 1 threads: per-trial seeds need no reseeding
            pass

    return TrialSeededSampler()


def _partial_units(trial) -> dict:
    return {int(k.split("_", 1)[1]): v for k, v in trial.user_attrs.items() if k.startswith("unit_")}


def _retry_failed(study, trial) -> None:
    """Enqueue a failed trial again: same parameters, with the units it finished."""
    attrs = {"retry_of": trial.number}
    attrs.update({k: v for k, v in trial.user_attrs.items() if k.startswith("unit_")})
    study.enqueue_trial(trial.params, user_attrs=attrs, skip_if_exists=False)


def _owner() -> dict:
    """Who runs a trial: this host and process (stored on the trial, so a resume can tell whether a
    RUNNING trial's process is gone)."""
    import os
    import socket

    return {"host": socket.gethostname(), "pid": os.getpid()}


def _process_gone(owner) -> bool:
    """True when ``owner`` (``_owner()`` of a trial) names a process of this host that no longer exists."""
    import os
    import socket

    if (
        not isinstance(owner, dict)
        or owner.get("host") != socket.gethostname()
        or not isinstance(owner.get("pid"), int)
    ):
        return False  # another machine's worker: left to the heartbeat
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _fail_stale_running(study) -> int:
    """Mark FAIL every RUNNING trial whose process on this host is gone (killed with kill -9, or the
    machine's session ended), so that ``_sweep_failed`` retries it with the units it finished; a trial
    of a live process, or of another host, is left alone (the heartbeat fails those after its grace
    period). Returns how many were failed."""
    from optuna.trial import TrialState

    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _process_gone(t.user_attrs.get("owner")):
            try:
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            except RuntimeError:  # finished meanwhile
                continue
            n += 1
    return n


class _InterruptInsideTrials:
    """SIGINT handling while ``study.optimize`` runs (main thread only): Ctrl-C raises KeyboardInterrupt
    inside a trial's objective (Optuna marks that trial FAIL and re-raises), but is held back while
    Optuna does its own bookkeeping between trials, where an exception could leave its heartbeat thread
    running and the process hanging at exit; it is raised at the next trial's start or when
    ``optimize`` returns."""

    def __init__(self):
        self.inside, self.pending, self.saved = False, False, None

    def _handler(self, signum, frame):
        self.pending = True  # kept: a KeyboardInterrupt raised inside a weakref callback is swallowed by Python
        if self.inside:
            raise KeyboardInterrupt

    def check(self):
        """Raise KeyboardInterrupt if Ctrl-C came and was not raised (or was swallowed) yet."""
        if self.pending:
            raise KeyboardInterrupt

    def enter_trial(self):
        self.inside = True
        self.check()

    def __enter__(self):
        import signal
        import threading

        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self.saved = signal.signal(signal.SIGINT, self._handler)
        else:
            self.inside = True  # not ours to handle: KeyboardInterrupt arrives as usual
        return self

    def __exit__(self, *exc):
        import signal

        if self.saved is not None:
            signal.signal(signal.SIGINT, self.saved)
        if self.pending and exc[0] is None:
            raise KeyboardInterrupt


def _sweep_failed(study) -> int:
    """Enqueue every failed trial that has no retry yet. Returns how many were enqueued."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    n = 0
    for t in trials:
        if t.state == TrialState.FAIL and t.number not in retried:
            _retry_failed(study, t)
            n += 1
    return n


def _config(solver, budget, objective, seeds, instances, problems, space) -> dict:
    return {
        "solver": solver,
        "budget": int(budget),
        "objective": objective,
        "seeds": [int(s) for s in seeds],
        "units": [i.name for i in instances] if instances is not None else f"{len(problems)} live problems",
        "space": json.loads(json.dumps(space, default=str)),
    }


@stop_on_interrupt()  # Ctrl-C: the trial in progress is marked FAIL by Optuna, retried on resume; exit 130
def tune(
    solver: str = "sa",
    instances=None,
    budget: int = 1000,
    n_trials: int = 40,
    *,
    problems=None,
    objective: str = "le-mo",
    seeds=(0,),
    space: dict | None = None,
    storage=None,
    study_name: str | None = None,
    out_dir=None,
    sampler_seed: int = 0,
    pruner=None,
    timeout: float | None = None,
    heartbeat: int | None = 60,
    plots: bool = True,
    on_unit=None,
    progress: bool = False,
) -> TuneResult:
    """Tune ``solver``'s hyperparameters with Optuna (TPE sampler, median pruner by default).

    Parameters
    ----------
    instances : list of ``Instance`` (objective: mean normalised gap, minimised); or
    problems : list of live ``TraceProblem`` (objective: mean score, maximised).
    budget : forward passes per solve. n_trials : finished (complete + pruned) trials the study should hold.
    seeds : solver seeds; each trial runs every (instance, seed) unit in the same order.
    space : overrides merged over ``SEARCH_SPACES[solver]``.
    storage : an Optuna storage (URL or object); default ``sqlite:///<out_dir>/study.db``.
    study_name : default ``"<solver>-<objective>-b<budget>"``. A study holding another configuration
        (solver, budget, objective, seeds, units, space) is refused.
    out_dir : where ``best_params.json`` and the plots go (and the default SQLite file).
    sampler_seed : trial n is sampled by TPE seeded from (sampler_seed, n): reproducible in one process,
        distinct proposals for concurrent workers (module docstring).
    heartbeat : seconds between heartbeats of a running trial (RDB storages), so a trial of a killed
        process is failed after 3 heartbeats and retried; None disables it. A RUNNING trial whose process
        on this host is gone (kill -9) is failed and retried at once when the study is resumed.
    progress : Optuna's progress bar over trials (stderr) and its per-trial log lines.

    Ctrl-C stops the study (``trace_opt.core.io.stop_on_interrupt``): the trial in progress is marked FAIL
    (its finished units kept in its user attributes) and retried on resume; KeyboardInterrupt propagates.
    on_unit : called as ``on_unit(trial_number, unit_index, row)`` after each computed unit
        (for progress; an exception raised there interrupts the study, which can be resumed).
    """
    check_choice("objective", objective, OBJECTIVES)
    _check_inputs(instances, problems)
    budget = check_positive_int("budget", budget)
    n_trials = check_positive_int("n_trials", n_trials)
    seeds = [check_positive_int("seeds", s, minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    resolved = resolve_space(solver, space)
    units = _units(instances, problems, seeds)
    study_name = study_name or f"{solver}-{objective}-b{budget}"
    config = _config(solver, budget, objective, seeds, instances, problems, resolved)
    if not progress:
        _quiet_optuna()
    study, store_desc, out = _open_study(
        config, study_name, storage, out_dir, heartbeat, sampler_seed, pruner, len(units), instances is not None
    )
    computed = [0]
    interrupts = _InterruptInsideTrials()

    def count(trial_number, u, row):
        computed[0] += 1
        interrupts.check()
        if on_unit is not None:
            on_unit(trial_number, u, row)

    evaluate = _unit_runner(solver, budget, objective, units, instances, problems)
    objective_fn = _trial_objective(resolved, len(units), evaluate, count, interrupts)
    _run_trials(study, objective_fn, n_trials, timeout, progress, interrupts)
    result = _tune_result(study, study_name, computed[0])
    if out is not None:
        metric = "mean_normalised_gap" if instances is not None else "mean_score"
        result.files.update(_write_study(out, result, solver, study_name, store_desc, metric, resolved, config, plots))
    return result


def _unit_runner(solver, budget, objective, units, instances, problems):
    """``evaluate(params, u)``: unit ``u`` (an (instance or problem, seed) pair of ``units``) solved with ``params``."""

    def evaluate(params, u):
        i, seed = units[u]
        item = {"instance": instances[i]} if instances is not None else {"problem": problems[i]}
        return evaluate_unit(solver, params, budget, objective, seed, **item)

    return evaluate


def _write_study(out: Path, result, solver, study_name, store_desc, metric, resolved, config, plots) -> dict:
    """``best_params.json`` (the best trial, its full solver parameters, the counts of trials, the study's
    configuration) and, with ``plots``, Optuna's plots; returns the files written."""
    study = result.study
    summary = {
        "solver": solver,
        "study_name": study_name,
        "storage": store_desc,
        "direction": study.direction.name.lower(),
        "metric": metric,
        "best_value": result.best_value,
        "best_params": result.best_params,
        "solver_params": suggest_fixed(resolved, study.best_trial.params),
        "best_trial": study.best_trial.number,
        "n_complete": result.n_complete,
        "n_pruned": result.n_pruned,
        "n_failed": result.n_failed,
        "config": config,
    }
    files = {"best_params": atomic_write_json(out / "best_params.json", summary)}
    if plots:
        files.update(write_study_plots(study, out))
    return files


def _quiet_optuna() -> None:
    """Optuna's per-trial log lines off (warnings still shown) unless the caller asked for more."""
    import optuna

    if optuna.logging.get_verbosity() < optuna.logging.WARNING:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


def _open_study(config, study_name, storage, out_dir, heartbeat, sampler_seed, pruner, n_units, minimise):
    """The study ``study_name`` (created, or loaded to resume it: a study of another ``config`` is refused),
    its stale and failed trials queued again; returns ``(study, storage description, output folder or None)``.
    A storage that cannot be opened is refused before any folder is created."""
    import optuna

    if out_dir is not None:
        check_output_dir("out_dir", out_dir)  # checked; created only once the storage opened
    if storage is not None:
        store, store_desc = _storage(storage, None, heartbeat)
    out = check_output_dir("out_dir", out_dir, create=True) if out_dir is not None else None
    if storage is None:
        store, store_desc = _storage(storage, out, heartbeat)
    study = optuna.create_study(
        storage=store,
        study_name=study_name,
        direction="minimize" if minimise else "maximize",
        load_if_exists=True,
        sampler=trial_seeded_sampler(sampler_seed),
        pruner=pruner
        if pruner is not None
        else optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min(2, n_units - 1)),
    )
    stored = study.user_attrs.get("config")
    if stored is None:
        study.set_user_attr("config", config)
    elif stored != config:
        raise ValueError(
            f"study {study_name!r} in {store_desc} was created for another configuration "
            f"({stored}); use another study_name or storage"
        )
    _fail_stale_running(study)
    _sweep_failed(study)
    return study, store_desc, out


def _trial_objective(resolved: dict, n_units: int, evaluate, count, interrupts):
    """The trial's objective for Optuna: draw parameters from ``resolved``, run the units in order
    (``evaluate(params, u)``; units finished by a failed trial this one retries are reused, ``count`` called
    after each computed one), report the running mean after each unit and prune on the pruner's word; the
    mean of the units' values."""
    import optuna

    def run(trial):
        trial.set_user_attr("owner", _owner())
        params = suggest_params(trial, resolved)
        done = _partial_units(trial)
        for k, v in done.items():  # carried over from a failed trial: keep them on this trial too
            trial.set_user_attr(f"unit_{k}", v)
        values = []
        for u in range(n_units):
            if u in done:
                row = done[u]
            else:
                row = evaluate(params, u)
                trial.set_user_attr(f"unit_{u}", row)
                count(trial.number, u, row)
            values.append(row["value"])
            trial.report(float(np.mean(values)), step=u)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(values))

    def objective_fn(trial):
        interrupts.enter_trial()
        try:
            return run(trial)
        finally:
            interrupts.inside = interrupts.saved is None

    return objective_fn


def _run_trials(study, objective_fn, n_trials: int, timeout, progress: bool, interrupts) -> None:
    """Run trials until the study holds ``n_trials`` finished (complete or pruned) ones, or ``timeout``."""
    import optuna
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    n_done = len(study.get_trials(deepcopy=False, states=finished))
    if n_done >= n_trials:
        return
    with warnings.catch_warnings(), interrupts:
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        study.optimize(
            objective_fn,
            n_trials=n_trials - n_done,
            timeout=timeout,
            callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=finished)],
            show_progress_bar=progress,
        )


def _tune_result(study, study_name: str, units_computed: int) -> TuneResult:
    """The study's outcome: its best trial and the counts of its trials by state."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise ValueError(f"study {study_name!r} has no complete trial (all pruned or failed)")
    best = study.best_trial
    return TuneResult(
        study=study,
        best_params=dict(best.params),
        best_value=float(best.value),
        n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        n_failed=sum(t.state == TrialState.FAIL for t in trials),
        units_computed=units_computed,
        files={},
    )


def suggest_fixed(space: dict, params: dict) -> dict:
    """The full constructor parameters: the space's fixed values plus the searched ``params``."""
    full = {k: v for k, v in space.items() if not _is_dist(v)}
    full.update(params)
    return full


def write_study_plots(study, out_dir) -> dict:
    """Optuna's matplotlib plots of a study as PNG files; returns {name: path} (plus errors, if any)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    out = Path(out_dir)
    files, errors = {}, {}
    plots = {
        "history": ovm.plot_optimization_history,
        "intermediate": ovm.plot_intermediate_values,
        "slice": ovm.plot_slice,
        "parallel": ovm.plot_parallel_coordinate,
        "importances": ovm.plot_param_importances,
    }
    for name, fn in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)  # few trials: flat axes, equal importances
            try:
                ax = fn(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. too few trials for importances
                errors[name] = f"{type(exc).__name__}: {exc}"
                continue
        axes = np.ravel(ax) if isinstance(ax, np.ndarray) else [ax]
        fig = axes[0].figure
        fig.set_size_inches(max(6.4, fig.get_figwidth()), max(4.2, fig.get_figheight()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # colour-bar axes are not tight_layout-compatible
            fig.tight_layout()
        files[name] = atomic_savefig(fig, out / f"{name}.png", dpi=110)
        plt.close(fig)
    if errors:
        files["plot_errors"] = atomic_write_json(out / "plot_errors.json", errors)
    return files


def paired_over_instances(per_unit: list[dict], level: float = 0.95, tie: float = 1e-12) -> dict:
    """Tuned against default with the **instance** as the unit: per instance, the normalised gaps of each side
    averaged over its seeds (seeds of one instance are not independent draws from the instance population),
    then the paired differences tuned - default over the n instances, their mean, standard error, Student-t
    ``level`` interval with n - 1 degrees of freedom and t statistic (``trace_opt.core.paired``), and the
    instances where tuned is better / equal / worse. ``per_unit``: rows with ``instance``, ``default_gap``
    and ``tuned_gap`` (one per instance and seed). Also, under ``units`` / ``tuned_wins`` / ``ties`` /
    ``default_wins``, the counts over the (instance, seed) runs (descriptive only)."""
    budget = 0
    runs = [
        {"solver": side, "budget": budget, "instance": u["instance"], "normalised_gap": u[f"{side}_gap"]}
        for u in per_unit
        for side in ("tuned", "default")
    ]
    if not runs:
        raise ValueError("per_unit is empty: nothing to compare")
    (row,) = paired_comparisons({"runs": runs}, budget, level=level, tie=tie)  # a = tuned, b = default
    d = np.array([u["tuned_gap"] - u["default_gap"] for u in per_unit])
    sem = row["sem"]
    return {
        "unit": "instance (gaps averaged over its seeds)",
        "instances": row["n"],
        "mean": row["mean_diff"],
        "sem": sem,
        "level": level,
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "t": row["mean_diff"] / sem if row["n"] > 1 and sem > 0 else float("nan"),
        "separated": row["separated"],
        "instances_tuned_better": row["a_better"],
        "instances_equal": row["ties"],
        "instances_default_better": row["b_better"],
        "units": int(len(d)),
        "tuned_wins": int((d < -tie).sum()),
        "ties": int((np.abs(d) <= tie).sum()),
        "default_wins": int((d > tie).sum()),
    }


def _verdict(pd: dict) -> str:
    if pd["instances"] < 2:
        return "too few instances to tell (one held-out instance)"
    if not pd["separated"]:
        return f"no clear difference (the {100 * pd['level']:g} % interval over instances includes 0)"
    return "tuned better" if pd["mean"] < 0 else "default better"


def _schedule(rows: list[dict], iterations) -> dict:
    """How much of a schedule of ``iterations`` the runs got through before the budget stopped them."""
    its = np.array([r["iterations"] for r in rows])
    cut = int(np.sum(its < iterations)) if iterations is not None else None
    return {
        "iterations": iterations,
        "mean_iterations_run": float(its.mean()),
        "min_iterations_run": int(its.min()),
        "max_iterations_run": int(its.max()),
        "runs_cut_off": cut,
        "runs": len(rows),
    }


def compare_on_holdout(
    solver: str,
    tuned_params: dict,
    instances,
    budget: int,
    seeds=(0,),
    objective: str = "le-mo",
    default_params: dict | None = None,
    default_to_completion: bool = True,
) -> dict:
    """Mean normalised gap of the default and the tuned parameters on (held-out) instances, and their paired
    difference with the instance as the unit (:func:`paired_over_instances`).

    Both sides get ``budget`` forward passes per solve. How many of its scheduled iterations each side ran is
    reported (``default_schedule``, ``tuned_schedule``): a default schedule cut off by the budget is compared
    at a point where it is still hot. With ``default_to_completion``, the default parameters are also run with
    a budget that cannot stop them (2^t forward passes, every set of the instance) and compared, paired over
    instances, with the tuned ones at ``budget`` (``completed_default``): the default's whole schedule, at
    whatever forward passes it takes, against the tuned solver within the budget."""
    default_solver_params = json_values(get_solver(solver, **dict(default_params or {})).get_params())
    default = evaluate_params(solver, dict(default_params or {}), instances, budget, seeds, objective)
    tuned = evaluate_params(solver, tuned_params, instances, budget, seeds, objective)
    per_unit = [
        {
            "instance": instances[d["unit"]].name,
            "seed": d["seed"],
            "default_gap": d["value"],
            "tuned_gap": u["value"],
            "default_forward_passes": d["forward_passes"],
            "tuned_forward_passes": u["forward_passes"],
            "default_iterations": d["iterations"],
            "tuned_iterations": u["iterations"],
        }
        for d, u in zip(default["units"], tuned["units"])
    ]
    pd = paired_over_instances(per_unit)
    out = {
        "solver": solver,
        "budget": budget,
        "objective": objective,
        "seeds": [int(s) for s in seeds],
        "instances": [i.name for i in instances],
        "default": {
            "params": default["params"],
            "mean_gap": default["mean"],
            "sem": default["sem"],
            "mean_forward_passes": default["mean_forward_passes"],
        },
        "tuned": {
            "params": tuned["params"],
            "mean_gap": tuned["mean"],
            "sem": tuned["sem"],
            "mean_forward_passes": tuned["mean_forward_passes"],
        },
        "default_solver_params": default_solver_params,
        "default_schedule": _schedule(default["units"], default_solver_params.get("iterations")),
        "tuned_schedule": _schedule(tuned["units"], get_solver(solver, **tuned_params).get_params().get("iterations")),
        "tuned_mean_lower": tuned["mean"] < default["mean"],
        "paired_difference": pd,
        "verdict": _verdict(pd),
        "per_unit": per_unit,
    }
    if default_to_completion:
        out["completed_default"] = complete_default(
            solver, instances, seeds, objective, default_params, per_unit=per_unit
        )
    return out


def complete_default(
    solver: str,
    instances,
    seeds,
    objective: str = "le-mo",
    default_params: dict | None = None,
    per_unit: list[dict] | None = None,
) -> dict:
    """The default parameters with a budget that cannot stop them (2^t forward passes per solve: every set of
    the instance; no iteration cap), per (instance, seed); with ``per_unit`` (:func:`compare_on_holdout`'s rows),
    also the tuned gaps at the comparison's budget against these, paired over instances."""
    rows = []
    for inst in instances:
        for seed in seeds:
            r = evaluate_unit(
                solver,
                dict(default_params or {}),
                1 << inst.t,
                objective,
                int(seed),
                instance=inst,
                iteration_cap=False,
            )
            rows.append(
                {
                    "instance": inst.name,
                    "seed": int(seed),
                    "gap": r["value"],
                    "forward_passes": r["forward_passes"],
                    "iterations": r["iterations"],
                    "stopped": r["stopped"],
                }
            )
    gaps = np.array([r["gap"] for r in rows])
    out = {
        "budget": "2^t forward passes (every set of the instance), never binding",
        "mean_gap": float(gaps.mean()),
        "sem": standard_error(gaps, single=0.0),
        "mean_forward_passes": float(np.mean([r["forward_passes"] for r in rows])),
        "max_forward_passes": int(max(r["forward_passes"] for r in rows)),
        "mean_iterations_run": float(np.mean([r["iterations"] for r in rows])),
        "per_unit": rows,
    }
    if per_unit is not None:
        done = {(r["instance"], r["seed"]): r["gap"] for r in rows}
        pairs = [
            {"instance": u["instance"], "tuned_gap": u["tuned_gap"], "default_gap": done[(u["instance"], u["seed"])]}
            for u in per_unit
        ]
        out["paired_difference_vs_tuned"] = paired_over_instances(pairs)
        out["verdict_vs_tuned"] = _verdict(out["paired_difference_vs_tuned"])
    return out


def holdout_markdown(cmp: dict, tune_summary: dict | None = None) -> str:
    """The held-out comparison as Markdown (what was compared, the means, the paired difference over instances,
    how much of each schedule ran, the verdict)."""
    lines = _holdout_header(cmp, tune_summary)
    lines += _holdout_means(cmp)
    lines.append(_holdout_paired(cmp))
    lines += _holdout_cut_off(cmp)
    lines += _holdout_completed(cmp)
    lines.append("")
    return "\n".join(lines)


def _holdout_header(cmp: dict, tune_summary: dict | None) -> list:
    """What was compared: the command, the study, the instances, the budget, objective and seeds, the parameters."""
    lines = [f"# Tuned vs default {cmp['solver']} on held-out instances", ""]
    if cmp.get("command"):
        lines.append(f"- command: `{cmp['command']}`")
    if tune_summary:
        lines.append(
            f"- study: {tune_summary['n_complete']} complete, {tune_summary['n_pruned']} pruned, "
            f"{tune_summary['n_failed']} failed trials; best mean gap on the "
            f"{len(cmp.get('tuning_instances', []))} tuning instances {tune_summary['best_value']:.5f} "
            "(optimistic: selected on those instances)"
        )
    return lines + [
        f"- held-out instances ({len(cmp['instances'])}): {', '.join(cmp['instances'])}",
        f"- tuning instances ({len(cmp.get('tuning_instances', []))}): {', '.join(cmp.get('tuning_instances', []))}",
        f"- budget {cmp['budget']} forward passes per solve; objective {cmp['objective']}; seeds "
        f"{', '.join(map(str, cmp['seeds']))}",
        f"- default parameters: {json.dumps(cmp.get('default_solver_params') or cmp['default']['params'])}",
        f"- tuned parameters: {json.dumps(cmp['tuned']['params'])}",
        "",
    ]


def _holdout_means(cmp: dict) -> list:
    """The table of both sides: mean gap, its standard error, mean forward passes, iterations run."""
    lines = [
        "| parameters | mean normalised gap | s.e. (runs) | mean forward passes | iterations run: mean [min, max] "
        "of scheduled |",
        "|---|---:|---:|---:|---|",
    ]
    for name in ("default", "tuned"):
        side, sch = cmp[name], cmp.get(f"{name}_schedule")
        its = (
            ""
            if not sch
            else (
                f"{sch['mean_iterations_run']:,.0f} [{sch['min_iterations_run']:,}, "
                f"{sch['max_iterations_run']:,}]" + ("" if sch["iterations"] is None else f" of {sch['iterations']:,}")
            )
        )
        lines.append(
            f"| {name} | {side['mean_gap']:.5f} | {side['sem']:.5f} | {side['mean_forward_passes']:.0f} | {its} |"
        )
    return lines + [""]


def _holdout_paired(cmp: dict) -> str:
    """The paired difference tuned - default (over instances; over units for a comparison written before the
    instance became the unit) and the verdict."""
    pd = cmp["paired_difference"]
    if "instances" in pd:
        return (
            f"Paired difference tuned - default, unit = instance (gaps averaged over the {len(cmp['seeds'])} "
            f"seeds, n = {pd['instances']} instances): {pd['mean']:+.5f} (s.e. {pd['sem']:.5f}, t = "
            f"{pd['t']:.2f}, {100 * pd['level']:g} % Student-t interval [{pd['ci_low']:+.5f}, "
            f"{pd['ci_high']:+.5f}]); tuned better on {pd['instances_tuned_better']}, equal on "
            f"{pd['instances_equal']}, worse on {pd['instances_default_better']} instances (on "
            f"{pd['tuned_wins']} / {pd['ties']} / {pd['default_wins']} of the {pd['units']} runs). "
            f"Verdict: **{cmp['verdict']}**."
        )
    return (
        f"Paired difference tuned - default over {pd['units']} (instance, seed) units: {pd['mean']:+.5f} "
        f"(s.e. {pd['sem']:.5f}); tuned better on {pd['tuned_wins']}, equal on {pd['ties']}, worse on "
        f"{pd['default_wins']}. Verdict: **{cmp['verdict']}**."
    )


def _holdout_cut_off(cmp: dict) -> list:
    """A note when the budget cut the default schedule off (with SA's temperature at the mean stop)."""
    sch = cmp.get("default_schedule")
    if not sch or not sch["runs_cut_off"]:
        return []
    eta = (cmp.get("default_solver_params") or {}).get("eta")
    hot = (
        ""
        if not isinstance(eta, (int, float))
        else f" (its temperature still {eta ** sch['mean_iterations_run']:.2f} of T0 at the mean stop, against "
        f"{eta ** sch['iterations']:.1e} at the end of the schedule)"
    )
    return [
        "",
        f"**The default schedule is cut off by the budget**: of its {sch['iterations']:,} iterations it "
        f"ran {sch['mean_iterations_run']:,.0f} on average within {cmp['budget']:,} forward passes "
        f"({sch['min_iterations_run']:,} to {sch['max_iterations_run']:,}; {sch['runs_cut_off']} of "
        f"{sch['runs']} runs cut off), so the comparison above is with a default SA stopped early, while still "
        f"hot{hot}.",
    ]


def _holdout_completed(cmp: dict) -> list:
    """The default run to completion against the tuned one within the budget, when it was run."""
    c = cmp.get("completed_default")
    if not c:
        return []
    cp = c["paired_difference_vs_tuned"]
    return [
        "",
        f"Default run to completion (budget {c['budget']}): mean gap {c['mean_gap']:.5f} (s.e. {c['sem']:.5f}) "
        f"after {c['mean_iterations_run']:,.0f} iterations and {c['mean_forward_passes']:,.0f} forward passes on "
        f"average (at most {c['max_forward_passes']:,}). Tuned at {cmp['budget']:,} passes - completed default, "
        f"per instance: {cp['mean']:+.5f} (s.e. {cp['sem']:.5f}, {100 * cp['level']:g} % interval "
        f"[{cp['ci_low']:+.5f}, {cp['ci_high']:+.5f}]); tuned better on {cp['instances_tuned_better']}, equal "
        f"on {cp['instances_equal']}, worse on {cp['instances_default_better']} instances: "
        f"**{c['verdict_vs_tuned']}**.",
    ]
