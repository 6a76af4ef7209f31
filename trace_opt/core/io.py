"""Result files and what may be stored in them.

* Atomic writes: to a temporary file beside the target, then renamed over it.
* ``stop_on_interrupt()``: the interruption rule of every batch command (see there).
* ``check_output_dir(name, path)``: an output folder refused before any work when it cannot be used.
* ``RecordStore``: per-item results of a batch command, resumable, reused only under the same settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (a reader sees the old file or the new one, never half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)  # mkstemp creates 0600; give results the usual permissions (0666 & ~umask)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path, obj) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_savefig(fig, path, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the path's suffix)."""
    import io

    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", **kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def json_values(obj, float_digits: int | None = None):
    """``obj`` as plain JSON values: dict keys to str, tuples and arrays to lists, numpy scalars to
    Python numbers, anything else that is not a JSON value to its ``repr``. ``float_digits``: round
    float scalars (not array entries) to that many significant digits, non-finite ones to None."""
    if isinstance(obj, dict):
        return {str(k): json_values(v, float_digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_values(v, float_digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if float_digits is not None and isinstance(obj, (float, np.floating)):
        return float(f"{float(obj):.{float_digits}g}") if np.isfinite(obj) else None
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


# ------------------------------------------------------------------------- the interruption rule
_STOP_ON_INTERRUPT = [0]  # depth of nested stop_on_interrupt() blocks (process-wide: Ctrl-C hits the main thread)


@contextmanager
def stop_on_interrupt():
    """The interruption rule of batch commands (explain-dataset, evaluate, tune, leaderboard, instances
    build): inside this block, Ctrl-C (KeyboardInterrupt) during a solve propagates instead of being
    turned into the best-so-far result with ``stopped="interrupted"`` (what a single ``solve`` or the
    demo does). So nothing cut short is ever returned to a batch loop, hence never stored as
    finished; work finished before the interruption is already stored, and the command exits 130
    (``trace_opt.cli.main``). A rerun computes what is missing."""
    _STOP_ON_INTERRUPT[0] += 1
    try:
        yield
    finally:
        _STOP_ON_INTERRUPT[0] -= 1


def interrupts_stop_the_run() -> bool:
    """True inside ``stop_on_interrupt()``: ``Solver.solve`` then re-raises KeyboardInterrupt."""
    return _STOP_ON_INTERRUPT[0] > 0


# ------------------------------------------------------------------------------ output folders
def check_output_dir(name: str, path, create: bool = False) -> Path:
    """Check, before any work, that the output folder ``path`` can be created (with parents) and written:
    a ValueError naming the argument ``name`` when it is a file, sits under a file, or is not writable
    (instead of FileExistsError / NotADirectoryError / PermissionError after the work). ``create``:
    leave the folder created; otherwise folders made for the test are removed again (a command checks
    its arguments first and creates nothing when another one is refused)."""
    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == path else f"is under {parent}, which is a file"
            raise ValueError(f"{name} {str(path)!r} {where}; expected a folder (created if missing)")
    created = [] if create else [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(
            f"{name} {str(path)!r} cannot be written: {exc.strerror or exc}; expected a writable "
            "folder (created if missing)"
        ) from None
    finally:  # leave no trace: the command creates the folder when it writes its first file
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
    return path


# ------------------------------------------------------------------------ resumable record stores
def settings_key(settings: dict) -> str:
    """A short hash of ``settings`` (plain JSON values, keys sorted): what a stored record must match."""
    blob = json.dumps(json_values(settings), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class RecordStore:
    """The per-item results of a batch command, one JSON file per item, resumable.

    ``RecordStore(directory, settings)``: records live in ``directory/<name>.json``. A record is reused on
    a rerun only when both the store's ``settings_key`` (a hash of ``settings``: everything that changes a
    result) and the item's own key (e.g. a digest of the input and its target) match what it was written
    with; otherwise it is recomputed and replaced. Writes are atomic, so an interrupted run leaves whole
    records only. ``directory=None``: a store that keeps nothing (every ``get`` misses).

    Each stored record carries ``settings_key`` and ``item_key`` beside the caller's fields.
    """

    def __init__(self, directory, settings: dict):
        self.directory = Path(directory) if directory is not None else None
        self.settings_key = settings_key(settings)

    def path(self, name: str) -> Path | None:
        """Where the record ``name`` is kept (None for a store that keeps nothing)."""
        return None if self.directory is None else self.directory / f"{name}.json"

    def get(self, name: str, item_key: str) -> dict | None:
        """The stored record ``name`` when it is readable and was written for these settings and this item."""
        path = self.path(name)
        if path is None or not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if (
            isinstance(record, dict)
            and record.get("settings_key") == self.settings_key
            and record.get("item_key") == item_key
        ):
            return record
        return None

    def put(self, name: str, item_key: str, record: dict) -> dict:
        """Store ``record`` (as plain JSON values, see ``json_values``) for item ``name`` atomically;
        returns it with its keys added."""
        record = {**json_values(record), "settings_key": self.settings_key, "item_key": item_key}
        path = self.path(name)
        if path is not None:
            atomic_write_json(path, record)
        return record
