"""Explain a whole data set: one result file per input, resumable, in-process, on a local process
pool, or on a Ray cluster.

``explain_dataset(model, inputs, out_dir, ...)`` runs ``trace_opt.explain`` on every input and
writes ``out_dir/results/<id>.json`` atomically as each one finishes, then ``out_dir/summary.json``.

* Resumable: an input whose file holds a finished result of the same configuration (model
  weights, features, reference, output, objective, solver, options, budget, seed) **and of the same
  input** (a sha256 of the input's dtype, shape and values, and the requested target, stored in
  the record under ``"input"``) is skipped, so an interrupted run started again computes only
  what is missing, and a changed input, target or model is computed again. The records are kept by
  ``trace_opt.core.io.RecordStore`` (atomic, one file per input; its settings key is the run's
  ``config_hash``, its item key the input's digest and target); ``run.json`` records the whole run's
  configuration, so that a run into a folder of another configuration is refused before any work.
* The model's identity: a torch module is fingerprinted by its weights (state dict); any other
  callable by its pickled bytes (``pickle.dumps``, so a scikit-learn estimator or a numpy object
  with its arrays is fingerprinted by its parameters; note that mutable state such as a call
  counter is part of it; the fingerprint is taken once, when the call starts). A callable that
  cannot be pickled (a lambda, a closure, an object holding a lock) has no fingerprint: a fresh
  output directory works, but resuming into one that already holds results is refused with an
  error, since nothing tells whether they came from the same model. ``model_id="..."`` names the
  model version explicitly and replaces the fingerprint (the caller vouches for it).
* A failing input is written as ``{"status": "error", "error": {...}}`` and the others go on.
  Failed inputs are tried again on a rerun (``retry_failed=False`` keeps them).
* Every input is solved with ``seed`` itself (the project's batch rule; no per-input seed is derived);
  a result depends only on (model, input, settings), so local, pool and Ray runs give identical
  results. Run-dependent values (seconds, process id, host) live apart, under ``"run"``.
* ``ray_address`` (e.g. ``"auto"`` or ``"127.0.0.1:6379"``) sends one task per chunk of
  ``chunk_size`` inputs to a Ray cluster; a task whose worker dies is retried up to
  ``max_retries`` times by Ray. The driver writes the files, so workers need no shared disk.
  Ray is imported only on this path (``pip install trace-trajectories[ray]``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trace_opt.core.fingerprint import arrays_digest, model_fingerprint
from trace_opt.core.io import (
    RecordStore,
    atomic_savefig,
    atomic_write_bytes,
    atomic_write_json,
    check_output_dir,
    settings_key,
    stop_on_interrupt,
)
from trace_opt.core.validation import check_positive_int
from trace_opt.explanation.lockstep import explain_with_settings
from trace_opt.explanation.settings import ExplainSettings
from trace_opt.explanation.single import DegenerateExplanationWarning, degenerate_messages, explain_input
from trace_opt.explanation.single import torch_threads as limit_torch_threads

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: run-dependent values moved out of the deterministic part of a result
_RUN_KEYS = ("seconds", "forward_seconds")


@dataclass
class DatasetRun:
    """Outcome of one ``explain_dataset`` call. Lists hold input ids."""

    out_dir: Path
    computed: list = field(default_factory=list)  # explained (or failed) by this call
    skipped: list = field(default_factory=list)  # already finished before this call
    failed: list = field(default_factory=list)  # ids whose result is an error record now
    summary_path: Path | None = None


def _as_numpy_list(inputs) -> list:
    try:
        import torch

        if isinstance(inputs, torch.Tensor):
            return [inputs[i] for i in range(inputs.shape[0])]
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(inputs, np.ndarray):
        return [inputs[i] for i in range(inputs.shape[0])]
    return list(inputs)


def _input_info(x, target) -> dict:
    """What identifies one input of a run: sha256 of its dtype, shape and values, and the requested target."""
    return {"sha256": arrays_digest(x), "target": None if target is None else int(target)}


def _split_run_values(d, run: dict, prefix: str = ""):
    """Move run-dependent values (seconds) out of a nested dict into ``run``."""
    if isinstance(d, dict):
        for key in list(d):
            if key in _RUN_KEYS:
                run[prefix + key] = d.pop(key)
            else:
                _split_run_values(d[key], run, f"{prefix}{key}.")
    return d


@dataclass(frozen=True)
class _Task:
    """What a task (in-process, pool or Ray) needs besides its inputs: the explanation's settings and how
    many inputs run together (``lockstep``; how results are computed, not part of what they are)."""

    settings: ExplainSettings
    lockstep: int = 1


def _explain_one(model, x, target, item_id: str, index: int, settings: ExplainSettings, config_hash: str) -> dict:
    """Explain one input; never raises for a failing input (the error is returned as a record)."""
    start = time.perf_counter()
    record = {"id": item_id, "index": index, "config_hash": config_hash}
    run = {"pid": os.getpid(), "host": socket.gethostname()}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateExplanationWarning)
            with limit_torch_threads(settings.threads):
                exp = explain_input(model, x, target, settings)
        for w in caught:  # shown as usual, and kept in the record
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        degenerate = [str(w.message) for w in caught if issubclass(w.category, DegenerateExplanationWarning)]
        _fill_record(record, run, exp, degenerate)
    except Exception as exc:  # noqa: BLE001 - a failing input is recorded, the others go on
        _fill_record(record, run, exc, target=target)
    run["seconds"] = time.perf_counter() - start
    record["run"] = run
    return record


def _fill_record(record: dict, run: dict, outcome, degenerate=(), target=None) -> None:
    """A result record from an ``Explanation`` (status ok, with its degenerate-problem warnings) or from
    the exception of a failed input (status error)."""
    if isinstance(outcome, BaseException):
        tb = "".join(traceback.format_exception(type(outcome), outcome, outcome.__traceback__, limit=8))
        record.update(
            status="error",
            target=target,
            error={"type": type(outcome).__name__, "message": str(outcome), "traceback": tb},
        )
        return
    record.update(status="ok", target=outcome.target, result=_split_run_values(outcome.to_dict(heatmap=True), run))
    if degenerate:
        record["warnings"] = list(degenerate)


def _explain_group(model, chunk: list, settings: ExplainSettings, config_hash: str) -> list:
    """The inputs of a chunk explained together by ``explain_many`` (lockstep: their searches share
    model calls); the same records as ``_explain_one`` would write, one per input."""
    Degenerate = DegenerateExplanationWarning
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Degenerate)  # collected per input below, from each explanation
        outcomes = explain_with_settings(
            model, [x for _, _, x, _ in chunk], [t for _, _, _, t in chunk], settings, errors="return"
        )
    for outcome in outcomes:
        if isinstance(outcome, KeyboardInterrupt):  # Ctrl-C or SIGTERM (trace_opt.cli.Terminated)
            raise outcome  # nothing of a stopped group is written (stop_on_interrupt)
    seconds = (time.perf_counter() - start) / len(chunk)
    records = []
    for (index, item_id, _, target), outcome in zip(chunk, outcomes):
        record = {"id": item_id, "index": index, "config_hash": config_hash}
        run = {"pid": os.getpid(), "host": socket.gethostname(), "lockstep": len(chunk)}
        degenerate = [] if isinstance(outcome, BaseException) else degenerate_messages(outcome.oracle, outcome.result)
        for message in degenerate:
            warnings.warn(message, Degenerate, stacklevel=2)
        _fill_record(record, run, outcome, degenerate, target=target)
        run["seconds"] = seconds  # the group's wall time shared out
        record["run"] = run
        records.append(record)
    return records


def _explain_chunk(model, chunk: list, task: _Task, config_hash: str) -> list:
    """Task body (in-process, pool or Ray): explain every ``(index, id, x, target)`` of a chunk, one by
    one, or together in lockstep when ``task.lockstep > 1``. Ctrl-C propagates
    (``stop_on_interrupt``): no cut-short explanation comes back as a result."""
    with stop_on_interrupt():
        if task.lockstep > 1:
            return _explain_group(model, chunk, task.settings, config_hash)
        return [
            _explain_one(model, x, target, item_id, index, task.settings, config_hash)
            for index, item_id, x, target in chunk
        ]


def load_result(path) -> dict | None:
    """A result record, or None when the file is missing, unreadable or not a JSON object."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _valid_result(result) -> bool:
    """Whether a record's ``result`` is a finished explanation: a dict whose trajectory is a permutation
    of 0..t-1 and whose search was not cut short by Ctrl-C."""
    if not isinstance(result, dict):
        return False
    t, sigma, solver = result.get("t"), result.get("trajectory"), result.get("solver")
    if not isinstance(t, int) or isinstance(t, bool) or t < 1 or not isinstance(sigma, list):
        return False
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in sigma) or sorted(sigma) != list(range(t)):
        return False
    return isinstance(solver, dict) and solver.get("stopped") != "interrupted"


def _is_finished(record, retry_failed: bool) -> bool:
    """Whether a record the store kept for these settings and this input (``RecordStore.get``; None when there is
    none) may be reused: a valid finished result (``status: ok``) or an error record kept because
    ``retry_failed`` is False. Anything else (a garbage or cut-short result) is computed again."""
    if record is None:
        return False
    if record.get("status") == "ok":
        return _valid_result(record.get("result"))
    return record.get("status") == "error" and not retry_failed


def explain_dataset(
    model,
    inputs,
    out_dir,
    targets=None,
    ids=None,
    *,
    n_jobs: int = 1,
    ray_address: str | None = None,
    chunk_size: int = 1,
    max_retries: int = 3,
    retry_failed: bool = True,
    on_result=None,
    model_id: str | None = None,
    lockstep: int = 1,
    overwrite: bool = False,
    torch_threads: int | None = None,
    **settings,
) -> DatasetRun:
    """Explain every input of ``inputs`` (a tensor/array with the inputs along dim 0, or a list).

    ``settings``: the keywords of ``ExplainSettings``, as for ``trace_opt.explain`` (features, reference and
    its options, output, objective, solver, solver_options, budget, seed, batch_size, device, precision,
    threads, ...). ``threads`` (torch threads per explanation, default 1) is the same everywhere, so that
    float sums, hence results, do not depend on where an input ran; ``torch_threads`` is its former name.
    ``targets``: one class per input (None: each input's predicted class, torch models). ``ids``: one
    file-name-safe string per input (default ``"000000"``, ``"000001"``, ...). ``n_jobs > 1`` uses a local
    process pool; ``ray_address`` a Ray cluster (one task per ``chunk_size`` inputs, ``max_retries`` retries
    of a task whose worker died). ``lockstep``: explain this many inputs together (``trace_opt.explain_many``:
    their searches share each model call; every result is that of its solo run on a batch-invariant model);
    each task then takes ``lockstep`` inputs. ``on_result(record)`` is called in this process after each
    result file is written (an exception raised there stops the run; what was written stays).

    A finished result is reused only if its configuration (model fingerprint or ``model_id``,
    ``ExplainSettings.result_config``) and its input (values and requested target, ``record["input"]``)
    match. ``model_id``: a non-empty string naming the model version, used instead of the fingerprint
    (needed to resume with a model that cannot be pickled; see the module docstring).

    ``out_dir/run.json`` records the run's configuration; a call whose configuration differs (another seed,
    solver, budget, model, ...) is refused before any work, naming what differs, unless ``overwrite=True``,
    which deletes the results of other configurations first (``results/*.json`` whose ``config_hash``
    differs, and ``summary.json``) and then runs as into a fresh folder.
    """
    if torch_threads is not None:
        if "threads" in settings:
            raise ValueError(
                "threads and torch_threads were both given; torch_threads is the former name of "
                "threads: give threads only"
            )
        settings["threads"] = torch_threads
    return explain_dataset_with_settings(
        model,
        inputs,
        out_dir,
        ExplainSettings.from_keywords(**settings),
        targets=targets,
        ids=ids,
        n_jobs=n_jobs,
        ray_address=ray_address,
        chunk_size=chunk_size,
        max_retries=max_retries,
        retry_failed=retry_failed,
        on_result=on_result,
        model_id=model_id,
        lockstep=lockstep,
        overwrite=overwrite,
    )


def explain_dataset_with_settings(
    model,
    inputs,
    out_dir,
    settings: ExplainSettings,
    *,
    targets=None,
    ids=None,
    n_jobs: int = 1,
    ray_address: str | None = None,
    chunk_size: int = 1,
    max_retries: int = 3,
    retry_failed: bool = True,
    on_result=None,
    model_id: str | None = None,
    lockstep: int = 1,
    overwrite: bool = False,
    on_start=None,
) -> DatasetRun:
    """``explain_dataset`` with its explanation settings as one ``ExplainSettings``
    (``Explainer.explain_dataset``). ``on_start(pending, skipped)``: called once before the work with the
    numbers of inputs to compute and already finished (e.g. for a progress bar).

    The steps: check the inputs and the run's options (``_batch``), name the model (``_model_key``), take the
    output folder (``_take_out_dir``: refused when it holds another configuration's run, unless ``overwrite``),
    find what is finished in the record store, explain the rest (in this process, on a pool or on Ray), write
    the summary."""
    xs, ids, targets = _batch(inputs, ids, targets)
    n_jobs = check_positive_int("n_jobs", n_jobs)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    lockstep = check_positive_int("lockstep", lockstep)
    if lockstep > 1:
        chunk_size = lockstep  # a task is a lockstep group
    max_retries = check_positive_int("max_retries", max_retries, minimum=0)
    if settings.seed is None:
        raise ValueError(
            "seed=None is not valid for a data-set run: every input is solved with the same seed, "
            "so that a rerun reproduces and resumes it; give an integer >= 0"
        )
    # every explain setting that needs an input is checked once, on the first input, before any work
    settings.check_input(xs[0])
    if ray_address is not None:
        check_ray_address(ray_address)
    model_key = _model_key(model, model_id)
    config = {**settings.result_config(), "model": model_key}
    config_hash = settings_key(config)  # what each result record carries (RecordStore's settings key)
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite={overwrite!r} is not valid; expected True or False")
    out, res_dir = _take_out_dir(out_dir, ids, model, model_key, config, config_hash, overwrite)
    atomic_write_json(out / RUN_FILE, {"config": config, "config_hash": config_hash, "settings": settings.to_dict()})
    store = RecordStore(res_dir, config)
    run = DatasetRun(out_dir=out)
    pending, infos = _pending(store, ids, xs, targets, retry_failed, run)

    def write(record):
        record = store.put(record["id"], _item_key(infos[record["id"]]), {**record, "input": infos[record["id"]]})
        run.computed.append(record["id"])
        if record["status"] != "ok":
            run.failed.append(record["id"])
        if on_result is not None:
            on_result(record)

    chunks = [pending[i : i + chunk_size] for i in range(0, len(pending), chunk_size)]
    if on_start is not None:
        on_start(len(pending), len(run.skipped))
    try:
        _run_chunks(model, chunks, _Task(settings, lockstep), config_hash, ray_address, n_jobs, max_retries, write)
    finally:  # also after Ctrl-C: the summary counts what is finished
        run.summary_path = _write_summary(out, store, ids, config, infos)
    return run


def _run_chunks(model, chunks, job: _Task, config_hash: str, ray_address, n_jobs: int, max_retries: int, write):
    """Explain the chunks on a Ray cluster, a local process pool or in this process; ``write(record)`` each
    result as it comes back (in this process)."""
    if not chunks:
        return
    if ray_address is not None:
        _run_ray(model, chunks, job, config_hash, ray_address, max_retries, write)
    elif n_jobs > 1:
        _run_pool(model, chunks, job, config_hash, n_jobs, max_retries, write)
    else:
        for chunk in chunks:
            for record in _explain_chunk(model, chunk, job, config_hash):
                write(record)


def _batch(inputs, ids, targets) -> tuple[list, list, list]:
    """The inputs as a list, with one file-name-safe unique id and one target (or None) each."""
    xs = _as_numpy_list(inputs)
    n = len(xs)
    if n == 0:
        raise ValueError("inputs is empty; give at least one input")
    ids = [f"{i:06d}" for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"ids has {len(ids)} entries for {n} inputs; give one id per input")
    bad = [i for i in ids if not _ID.match(i)]
    if bad:
        raise ValueError(
            f"ids must be file-name safe (letters, digits, '.', '_', '-', not starting with "
            f"'.', '_' or '-'); got {bad[:3]}"
        )
    if len(set(ids)) != n:
        raise ValueError("ids must be unique")
    targets = [None] * n if targets is None else [None if t is None else int(t) for t in targets]
    if len(targets) != n:
        raise ValueError(f"targets has {len(targets)} entries for {n} inputs; give one target per input")
    return xs, ids, targets


def _model_key(model, model_id) -> str | None:
    """The model's identity in the run's configuration: ``id:<model_id>`` when named, else ``sha256:`` of its
    fingerprint; None for a model that cannot be fingerprinted (see the module docstring)."""
    if model_id is not None:
        if not isinstance(model_id, str) or not model_id:
            raise ValueError(
                f"model_id={model_id!r} is not valid; expected a non-empty string naming the model version"
            )
        return f"id:{model_id}"
    fp = model_fingerprint(model)
    return None if fp is None else f"sha256:{fp}"


def _take_out_dir(out_dir, ids, model, model_key, config, config_hash, overwrite) -> tuple[Path, Path]:
    """The run folder and its ``results/`` folder, created once the run may take them: a folder holding a run
    of another configuration is refused (``check_run_config``) unless ``overwrite``, which deletes that run's
    results and summary; a model without a fingerprint cannot resume into results already there."""
    check_output_dir("out_dir", out_dir)  # before anything is created
    out = Path(out_dir)
    if model_key is None and not overwrite:
        existing = [i for i in ids if (out / "results" / f"{i}.json").exists()]
        if existing:
            raise ValueError(
                f"cannot resume in {out}: it already holds results (e.g. {existing[0]}.json), and the "
                f"model ({type(model).__qualname__}) cannot be pickled, so nothing tells whether they "
                "came from the same model; pass model_id='<name of this model version>' (and "
                "overwrite=True to replace these results), or use a new out_dir"
            )
    stale = check_run_config(out, config, config_hash, overwrite)
    if overwrite and model_key is None:  # nothing tells which model wrote results of this configuration
        stale = sorted((out / "results").glob("*.json")) if (out / "results").is_dir() else []
    out = check_output_dir("out_dir", out_dir, create=True)
    res_dir = check_output_dir("out_dir", out / "results", create=True)
    for path in stale:  # overwrite=True: the results of other configurations go
        path.unlink(missing_ok=True)
    if stale or overwrite:
        (out / "summary.json").unlink(missing_ok=True)
    return out, res_dir


def _item_key(info: dict) -> str:
    """What a stored result must have been computed for besides the settings: the input's digest and target."""
    return f"{info['sha256']}:{info['target']}"


def _pending(store: RecordStore, ids, xs, targets, retry_failed: bool, run: DatasetRun) -> tuple[list, dict]:
    """The ``(index, id, x, target)`` of the inputs to compute (a finished record of the same settings and input
    is reused: ``run.skipped``, and ``run.failed`` for a kept error record) and each input's ``_input_info``."""
    pending, infos = [], {}
    for index, (item_id, x, target) in enumerate(zip(ids, xs, targets)):
        xa = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        infos[item_id] = info = _input_info(xa, target)
        old = store.get(item_id, _item_key(info))
        if _is_finished(old, retry_failed):
            run.skipped.append(item_id)
            if old.get("status") == "error":
                run.failed.append(item_id)
            continue
        pending.append((index, item_id, xa, target))
    return pending, infos


def _worker_init(parent: int) -> None:
    """Pool worker initializer. Ctrl-C is the driver's to handle (it stops the workers), so a worker
    never turns it into a result or prints a traceback of its own; workers start with SIGINT blocked
    (``_run_pool`` spawns them so), which covers their start-up before this runs. And a worker dies
    with its driver (``die_with_parent``): a driver killed by SIGKILL leaves no worker running."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent(parent)


def die_with_parent(parent: int, interval: float = 0.5) -> None:
    """End this process when the process ``parent`` (its parent when it started) ends, however it ends
    (SIGKILL included): on Linux the kernel sends SIGKILL at once (``prctl(PR_SET_PDEATHSIG)``), and
    everywhere a daemon thread checks every ``interval`` seconds whether the process was re-parented.
    The workers' ends also close the pipe of multiprocessing's resource tracker, which then exits too."""
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread below still watches
            pass
    if os.getppid() != parent:  # the parent ended before the watch was set up
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="trace-opt-watch-parent", daemon=True).start()


class _PlainPickled:
    """A model sent to pool workers as plain pickle bytes: unpickled there into the model itself. Plain
    pickle copies tensors; the multiprocessing pickler would share their storage through file
    descriptors served by a thread of the driver, which prints a traceback when Ctrl-C stops the
    workers in the middle of such a transfer."""

    def __init__(self, payload: bytes):
        self.payload = payload

    def __reduce__(self):
        return pickle.loads, (self.payload,)


def _run_pool(model, chunks, settings, config_hash, n_jobs, max_retries, write):
    """Run the chunks on a pool of ``n_jobs`` spawned processes. When a worker dies (killed, out of
    memory) the pool breaks and every chunk not finished then fails with BrokenProcessPool, although
    only one was at fault: those chunks are submitted again to a fresh pool, and a chunk is recorded
    as failed only after it was unfinished at ``max_retries + 1`` breakages. Ctrl-C terminates the workers
    and propagates (nothing cut short is written)."""
    import multiprocessing as mp
    import signal
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    try:
        payload = _PlainPickled(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))  # the model, in the workers
    except Exception as exc:  # noqa: BLE001 - lambdas, closures, open handles: say which setting to change
        raise ValueError(
            f"n_jobs={n_jobs}: the model cannot be pickled to send it to worker processes "
            f"({type(exc).__name__}: {exc}); use n_jobs=1 or a picklable model"
        ) from None
    todo, breaks = list(chunks), {}
    while todo:
        pool = ProcessPoolExecutor(
            max_workers=min(n_jobs, len(todo)),
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
        again = []
        try:
            # the workers are spawned by submit: with SIGINT blocked, which they inherit; a Ctrl-C meanwhile
            # stays pending here and is raised when it is unblocked
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                futures = {
                    pool.submit(_explain_chunk, payload, chunk, settings, config_hash): k
                    for k, chunk in enumerate(todo)
                }
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            for fut in as_completed(futures):
                chunk = todo[futures[fut]]
                try:
                    records = fut.result()
                except BrokenProcessPool as exc:  # some worker died: retry this chunk unless it broke too often
                    key = id(chunk)
                    breaks[key] = breaks.get(key, 0) + 1
                    if breaks[key] <= max_retries:
                        again.append(chunk)
                        continue
                    records = _chunk_errors(
                        chunk, exc, config_hash, f" (a worker died {breaks[key]} times while this input was unfinished)"
                    )
                except Exception as exc:  # noqa: BLE001 - e.g. the chunk could not be sent: record its inputs
                    records = _chunk_errors(chunk, exc, config_hash)
                for record in records:
                    write(record)
        except BaseException:  # Ctrl-C (or on_result raised): stop the workers now, keep what was written
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                proc.terminate()
            raise
        pool.shutdown(wait=True)
        todo = again


def _chunk_errors(chunk, exc, config_hash, note: str = "") -> list:
    return [
        {
            "id": item_id,
            "index": index,
            "config_hash": config_hash,
            "status": "error",
            "target": target,
            "error": {"type": type(exc).__name__, "message": str(exc) + note, "traceback": ""},
            "run": {},
        }
        for index, item_id, _, target in chunk
    ]


def check_ray_address(address, timeout: float = 2.0, name: str = "ray_address") -> None:
    """Refuse a Ray address where no cluster answers, quickly and before any work (``ray.init`` would
    retry for minutes, logging as it goes). ``"auto"``: a cluster started on this machine
    (``ray start --head``); ``HOST:PORT`` or ``ray://HOST:PORT``: a gRPC server (as Ray's GCS and client
    server are) must answer there within ``timeout`` seconds; a port that answers otherwise (an HTTP server,
    a database) is refused instead of leaving ``ray.init`` to retry for a minute."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"{name}={address!r} is not valid; expected 'auto', HOST:PORT or ray://HOST:PORT")
    if address == "auto":
        if os.environ.get("RAY_ADDRESS"):
            return check_ray_address(os.environ["RAY_ADDRESS"], timeout, name)
        import tempfile

        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if not current.is_file() or not current.read_text().strip():
            raise ValueError(
                f"{name}='auto' found no Ray cluster started on this machine; start one with "
                "'ray start --head' or give its HOST:PORT"
            )
        return check_ray_address(current.read_text().strip(), timeout, name)
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{name}={address!r} is not valid; expected 'auto', HOST:PORT or ray://HOST:PORT")
    try:
        speaks_grpc = _speaks_http2((host.strip("[]"), int(port)), timeout)
    except OSError as exc:
        raise ValueError(
            f"{name}={address!r}: no Ray cluster answers there ({exc.strerror or exc}); start "
            "one with 'ray start --head' or check the address"
        ) from None
    if not speaks_grpc:
        raise ValueError(
            f"{name}={address!r}: something answers there but it is not a Ray cluster (no gRPC "
            f"answer within {timeout:g} s); give the address of a Ray head (GCS port, default 6379, "
            "or ray://HOST:10001)"
        )


#: an HTTP/2 client's connection preface and an empty SETTINGS frame (RFC 9113, section 3.4)
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _speaks_http2(address, timeout: float) -> bool:
    """Whether the server at ``address`` answers an HTTP/2 preface with a SETTINGS frame, as every gRPC
    server (Ray's GCS and its client server) does; within ``timeout`` seconds in all. An OSError when
    nothing accepts the connection."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            sock.sendall(_HTTP2_PREFACE)
            header = b""
            while len(header) < 9:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(9 - len(header))
                if not chunk:
                    return False
                header += chunk
        except OSError:  # reset or timed out after the connection was accepted: not a gRPC server
            return False
    return header[3] == 0x04  # frame type SETTINGS


def _run_ray(model, chunks, settings, config_hash, address, max_retries, write):
    try:
        import ray
    except ImportError:
        raise ValueError("ray_address needs Ray: pip install 'trace-trajectories[ray]'") from None
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except ConnectionError as exc:
            raise ValueError(f"ray_address={address!r}: could not connect to a Ray cluster ({exc})") from None
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(_explain_chunk)
        model_ref = ray.put(model)
        refs = {task.remote(model_ref, chunk, settings, config_hash): chunk for chunk in chunks}
        waiting = list(refs)
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                try:
                    records = ray.get(done[0])
                except Exception as exc:  # noqa: BLE001 - retries exhausted (worker deaths): record the inputs
                    records = _chunk_errors(refs[done[0]], exc, config_hash)
                for record in records:
                    write(record)
        except BaseException:
            for ref in waiting:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


#: the file in a run folder that records its configuration
RUN_FILE = "run.json"


def check_run_config(out: Path, config: dict, config_hash: str, overwrite: bool = False) -> list:
    """Whether the run folder ``out`` may take a run of ``config``: its ``run.json`` (or, from earlier
    versions, ``summary.json``) records the configuration of the run that wrote it, and each result file
    its ``config_hash``. Another configuration is a ValueError naming what differs, unless ``overwrite``;
    returns the result files of other configurations (to delete when overwriting)."""
    recorded = None
    for name in (RUN_FILE, "summary.json"):
        saved = load_result(out / name)
        if saved is not None and isinstance(saved.get("config"), dict):
            recorded = saved["config"]
            break
    stale = []
    res_dir = out / "results"
    if res_dir.is_dir():
        for path in sorted(res_dir.glob("*.json")):
            rec = load_result(path)
            if rec is None or rec.get("config_hash") != config_hash:
                stale.append(path)
    if overwrite:
        return stale
    differs = []
    if recorded is not None and recorded != config:
        for key in sorted(set(recorded) | set(config)):
            if recorded.get(key) != config.get(key):
                differs.append(f"{key}: {json.dumps(recorded.get(key))} there, {json.dumps(config.get(key))} now")
    elif stale and any(load_result(p) is not None for p in stale):
        differs.append(f"{len(stale)} result file(s) of other settings, e.g. {stale[0].name}")
    if differs:
        raise ValueError(
            f"out_dir {str(out)!r} holds a run with other settings ({'; '.join(differs[:6])}); "
            "its results would be replaced: use another out_dir, or overwrite=True (--overwrite) "
            "to replace them"
        )
    return stale


def _write_summary(out: Path, store: RecordStore, ids, config, infos) -> Path:
    """``summary.json``: each input's status (ok, error, or missing when the store holds no result of these
    settings for it) and the counts; and the results table (``_write_results_table``)."""
    status = {}
    for item_id in ids:
        rec = store.get(item_id, _item_key(infos[item_id]))
        status[item_id] = "missing" if rec is None else rec.get("status", "missing")
    counts = {k: sum(v == k for v in status.values()) for k in ("ok", "error", "missing")}
    _write_results_table(out, store.directory, [i for i in ids if status[i] != "missing"])
    return atomic_write_json(
        out / "summary.json",
        {"config": config, "config_hash": store.settings_key, "counts": counts, "status": status},
    )


def _write_results_table(out: Path, res_dir: Path, ids) -> None:
    """``results.md`` (one row per input of this run: status, target, AUC-Le, AUC-Mo, value, forward passes,
    how the search stopped; then means over the finished inputs) and ``results.png`` (the mean LeRF and
    MoRF deletion curves with their interquartile bands)."""
    rows, curves, ok = [], [], []
    for item_id in ids:
        rec = load_result(res_dir / f"{item_id}.json") or {}
        r = rec.get("result") or {}
        if rec.get("status") == "ok":
            ok.append(r)
            rows.append(
                f"| {item_id} | ok | {r.get('target', rec.get('target'))} | {r.get('auc_le', float('nan')):.5g} | "
                f"{r.get('auc_mo', float('nan')):.5g} | {r.get('value', float('nan')):.5g} | "
                f"{(r.get('counters') or {}).get('forward_passes', '')} | "
                f"{(r.get('solver') or {}).get('stopped', '')} |"
            )
            c = r.get("curves") or {}
            if "lerf_deletion" in c and "morf_deletion" in c:
                curves.append((np.asarray(c["lerf_deletion"], float), np.asarray(c["morf_deletion"], float)))
        else:
            message = str((rec.get("error") or {}).get("message", "")).replace("|", "/").splitlines()[:1]
            rows.append(f"| {item_id} | error | {rec.get('target')} | | | | | {''.join(message)[:80]} |")
    lines = [
        "# explain-dataset results",
        "",
        "AUC-Le (higher is better), AUC-Mo (lower is better) and the objective's value in the paper's sign; "
        "one file per input under results/.",
        "",
        "| input | status | target | AUC-Le | AUC-Mo | value | forward passes | stopped |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if ok:
        mean = {k: float(np.mean([r.get(k, np.nan) for r in ok])) for k in ("auc_le", "auc_mo", "value")}
        lines += [
            f"Mean over {len(ok)} finished input(s): AUC-Le {mean['auc_le']:.5g}, AUC-Mo {mean['auc_mo']:.5g}, "
            f"value {mean['value']:.5g}.",
            "",
        ]
    atomic_write_bytes(out / "results.md", "\n".join(lines).encode())
    lengths = {len(le) for le, _ in curves}
    if len(lengths) == 1:  # one t: the curves can be averaged
        _plot_mean_curves(curves, out / "results.png")


def _plot_mean_curves(curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    le = np.stack([c[0] for c in curves])
    mo = np.stack([c[1] for c in curves])
    k = np.arange(le.shape[1])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for data, colour, label in (
        (le, "tab:blue", "LeRF deletion (least important first)"),
        (mo, "tab:red", "MoRF deletion (most important first)"),
    ):
        ax.plot(k, data.mean(axis=0), color=colour, label=f"{label}, mean")
        ax.fill_between(k, *np.percentile(data, [25, 75], axis=0), color=colour, alpha=0.2)
    ax.set_xlabel("features deleted k")
    ax.set_ylabel("D (model output)")
    ax.set_title(f"deletion curves over {len(curves)} input(s) (bands: 25-75 %)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def comparable(record: dict) -> dict:
    """A result record without its run-dependent parts (run info, configuration hash under both its names,
    ``config_hash`` and the record store's ``settings_key``, an error's traceback), for comparing runs."""
    out = {k: v for k, v in record.items() if k not in ("run", "config_hash", "settings_key")}
    if isinstance(out.get("error"), dict):
        out["error"] = {k: v for k, v in out["error"].items() if k != "traceback"}
    return out
