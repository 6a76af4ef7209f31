"""Result files and what may be stored in them.

* Atomic writes: to a temporary file beside the target, then renamed over it.
* ``stop_on_interrupt()``: the interruption rule of every batch command (see there).
* ``check_output_dir(name, path)``: an output folder refused before any work when it cannot be used.
"""
from __future__ import annotations

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
        raise ValueError(f"{name} {str(path)!r} cannot be written: {exc.strerror or exc}; expected a writable "
                         "folder (created if missing)") from None
    finally:  # leave no trace: the command creates the folder when it writes its first file
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
    return path
