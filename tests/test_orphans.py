"""Issue 22, item 2: a batch command stopped by SIGTERM or killed outright (SIGKILL) leaves nothing
running: its pool workers and multiprocessing's resource tracker end with it.

Real subprocesses: ``explain-dataset --n-jobs 2`` starts in its own session (so every process it starts
shares its process group), the driver alone gets the signal once a first result is on disk, and the test
then waits for every live process of that group to end (zombies, which init reaps, are not counted).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _group_alive(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid``."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            alive.append(int(entry.name))
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_explain_dataset_pool_leaves_no_process_running_after_sigterm_or_sigkill(tmp_path, model_cache_dir, sig):
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "trace_opt",
        "explain-dataset",
        "--n",
        "6",
        "--n-jobs",
        "2",
        "--solver-options",
        '{"iterations": 4000}',
        "--out",
        str(out),
    ]
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            env={**os.environ, "TRACE_OPT_CACHE": str(model_cache_dir)},
        )
    pgid = proc.pid
    try:
        deadline = time.monotonic() + 180
        while not any((out / "results").glob("0*.json")):
            assert proc.poll() is None, f"ended before the signal: {err_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no first result in time"
            time.sleep(0.05)
        assert len(_group_alive(pgid)) >= 3, "expected the driver, its workers and the resource tracker"
        os.kill(proc.pid, sig)  # the driver alone, as `kill PID` does
        rc = proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _group_alive(pgid)
        assert not left, (
            f"processes still running {time.monotonic() - deadline + 10:.1f} s after the driver "
            f"ended: {[Path(f'/proc/{p}/cmdline').read_bytes()[:200] for p in left]}"
        )
    finally:
        for pid in _group_alive(pgid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGTERM:  # handled as Ctrl-C: a message, no traceback, finished work kept
        text = err_path.read_text()
        assert rc == 143, text
        assert "terminated" in text and "Traceback" not in text
    else:
        assert rc == -signal.SIGKILL
    from trace_opt.explanation.dataset import load_result

    for f in (out / "results").glob("0*.json"):  # nothing cut short stored as finished
        assert load_result(f)["status"] == "ok"
