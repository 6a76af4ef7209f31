"""explain_dataset on a real two-node Ray cluster, with a worker killed during the run.

The cluster lives in a private network and PID namespace (``unshare --net --pid``) whose only
interface is loopback: both nodes are started with ``ray start ... --node-ip-address=127.0.0.1``,
so every Ray socket is on 127.0.0.1 (on the host network Ray would advertise the machine's address),
``ray stop --force`` sees only this cluster's processes, and the kernel ends every process of the
namespace when the child exits, whatever happens. The child (this file run as a script) writes a
JSON report that the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()
N_INPUTS = 6


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    try:
        return (
            subprocess.run(
                ["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, timeout=20
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


# ------------------------------------------------------------------------------ the test (driver)
@pytest.mark.slow
def test_ray_cluster_with_killed_worker(tmp_path):
    pytest.importorskip("ray")
    if not _unshare_ok():
        pytest.skip("needs `unshare --net --pid` (root) to keep the Ray cluster on a loopback-only network")
    out = Path(tempfile.mkdtemp(prefix="trc", dir="/tmp"))  # short: Ray's unix socket paths are limited
    try:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
        cmd = [
            "unshare",
            "--net",
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            f'ip link set lo up && exec "{sys.executable}" "{HERE}" child "{out}"',
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
        report_path = out / "report.json"
        assert report_path.exists(), (
            f"child wrote no report\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
        report = json.loads(report_path.read_text())
        assert proc.returncode == 0, report
        # two nodes, both on loopback
        assert report["nodes_alive"] == 2
        assert report["node_ips"] == ["127.0.0.1", "127.0.0.1"]
        # a worker running a task was killed, and Ray ran that task again elsewhere
        assert report["killed_pid"] is not None and report["killed_pid_dead"]
        assert report["task_starts"] > N_INPUTS  # the killed task started twice
        killed_items = [i for i, pid in report["ray_pids"].items() if pid == report["killed_pid"]]
        assert killed_items == []  # no surviving result came from the killed worker
        # every input explained, and the Ray results equal the local in-process results exactly
        assert report["local_status"] == {"ok": N_INPUTS - 1, "error": 1, "missing": 0}
        assert report["ray_status"] == report["local_status"]
        assert report["identical"] == N_INPUTS
        assert report["error_type"] == "ValueError"
        # rerunning the Ray run skips every finished input (only the failing one is tried again)
        assert report["rerun_computed"] == [report["error_id"]]
    finally:
        shutil.rmtree(out, ignore_errors=True)


# ---------------------------------------------------------------------------- child (in the netns)
class LinearSoftmax:
    """A numpy black box: softmax of a fixed linear map, (B, 8, 8) -> (B, 10) probabilities."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.W = rng.normal(size=(64, 10))

    def __call__(self, batch):
        z = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1) @ self.W
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class SlowFirstCall:
    """Wraps a model: the first call of each task writes the worker's pid to a file and sleeps, so
    the driver can kill a worker while it is running a task."""

    def __init__(self, inner, pid_dir: str, delay: float):
        self.inner, self.pid_dir, self.delay = inner, pid_dir, delay
        self.started = False

    def __call__(self, batch):
        if not self.started:
            self.started = True
            Path(self.pid_dir, f"{os.getpid()}-{time.monotonic_ns()}").write_text(str(os.getpid()))
            time.sleep(self.delay)
        return self.inner(batch)


def _ray(*args, check=True):
    return subprocess.run(
        [str(Path(sys.executable).with_name("ray")), *args], capture_output=True, text=True, timeout=120, check=check
    )


def _reap() -> None:  # pragma: no cover - runs in the subprocess
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid == 0:
            time.sleep(0.05)


def _child(out: Path) -> None:  # pragma: no cover - runs in the subprocess
    import ray

    from trace_opt.explanation.dataset import comparable, explain_dataset, load_result

    report: dict = {}
    port = 6380
    temp = out / "ray"
    t0 = time.monotonic()
    lap = lambda name: report.setdefault("seconds", {}).__setitem__(name, round(time.monotonic() - t0, 1))  # noqa: E731
    try:
        _ray(
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=1",
            "--object-store-memory=80000000",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        )
        lap("head")
        _ray(
            "start",
            f"--address=127.0.0.1:{port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            "--object-store-memory=80000000",
            "--disable-usage-stats",
        )
        lap("worker")
        rng = np.random.default_rng(1)
        inputs = [rng.random((8, 8)) for _ in range(N_INPUTS - 1)] + [rng.random((5, 5))]  # last one fails
        ids = [f"x{i}" for i in range(N_INPUTS)]
        settings = dict(
            features=4,
            reference="zeros",
            objective="le-mo",
            solver="sa",
            solver_options={"iterations": 300, "init": "random"},
            budget=400,
            seed=3,
        )
        targets = [1] * N_INPUTS
        pid_dir = out / "pids"
        pid_dir.mkdir()
        model = SlowFirstCall(LinearSoftmax(), str(pid_dir), delay=1.0)
        local = explain_dataset(LinearSoftmax(), inputs, out / "local", targets, ids, **settings)
        for f in pid_dir.iterdir():
            f.unlink()

        lap("local")
        ray.init(address=f"127.0.0.1:{port}", log_to_driver=False, configure_logging=False)
        lap("init")
        nodes = [n for n in ray.nodes() if n["Alive"]]
        report["nodes_alive"] = len(nodes)
        report["node_ips"] = sorted(n["NodeManagerAddress"] for n in nodes)
        killed: dict = {"pid": None}

        def killer():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                files = sorted(pid_dir.iterdir())
                if files:
                    pid = int(files[0].read_text())
                    os.kill(pid, signal.SIGKILL)
                    killed["pid"] = pid
                    return
                time.sleep(0.05)

        thread = threading.Thread(target=killer)
        thread.start()
        run = explain_dataset(
            model, inputs, out / "ray", targets, ids, ray_address=f"127.0.0.1:{port}", max_retries=3, **settings
        )
        thread.join()
        lap("ray_run")
        report["killed_pid"] = killed["pid"]
        time.sleep(0.2)
        report["killed_pid_dead"] = killed["pid"] is not None and not os.path.exists(f"/proc/{killed['pid']}")
        report["task_starts"] = len(list(pid_dir.iterdir()))
        recs_local = {i: load_result(out / "local" / "results" / f"{i}.json") for i in ids}
        recs_ray = {i: load_result(out / "ray" / "results" / f"{i}.json") for i in ids}
        report["ray_pids"] = {i: r["run"].get("pid") for i, r in recs_ray.items()}
        report["identical"] = sum(comparable(recs_local[i]) == comparable(recs_ray[i]) for i in ids)
        summary = lambda d: json.loads((out / d / "summary.json").read_text())["counts"]  # noqa: E731
        report["local_status"], report["ray_status"] = summary("local"), summary("ray")
        report["error_id"] = ids[-1]
        report["error_type"] = recs_ray[ids[-1]]["error"]["type"]
        report["local_failed"], report["ray_failed"] = local.failed, run.failed
        rerun = explain_dataset(
            model, inputs, out / "ray", targets, ids, ray_address=f"127.0.0.1:{port}", max_retries=3, **settings
        )
        report["rerun_computed"] = rerun.computed
        lap("rerun")
        ray.shutdown()
        lap("shutdown")
    finally:
        if os.getpid() == 1:  # init of the PID namespace: reap the killed Ray processes, or `ray stop` waits on zombies
            threading.Thread(target=_reap, daemon=True).start()
        _ray("stop", "--force", check=False)
        lap("stop")
        (out / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        _child(Path(sys.argv[2]))
