"""The shared harness of the bench/ scripts: arguments, the machine, the command, and the result files.

Every script is run from the repository root as a plain file, ``python bench/<script>.py`` (the package is
installed editable, so nothing edits ``sys.path``; the script's own folder is on it, which is how scripts
import this module and ``_problems``). Each one

- builds its arguments on :func:`parser`: ``--out DIR`` (default ``bench/results``; with ``--quick`` and no
  ``--out``, ``runs/bench-quick`` so a smoke run never overwrites the committed results), ``--stem NAME`` (the
  file name without suffix; default the script's own) and, where the script has a small smoke
  configuration, ``--quick``;
- writes ``<out>/<stem>.json`` and ``<stem>.md`` with :func:`write_result`, which records in both the exact
  command line (:func:`command`) and the machine (:func:`machine`: CPU model and cores, library versions,
  thread settings and the environment variables that change the CPU kernels or threads).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from trace_opt.core.io import atomic_write_bytes, atomic_write_json, json_values

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
QUICK_RESULTS = ROOT / "runs" / "bench-quick"
#: environment variables that change which CPU kernels or how many threads the benchmarks use
ENV_VARS = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
)


def parser(
    script: str, description: str | None = None, *, quick: str | None = None, stem: str | None = None, **kwargs
) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the harness's options: ``--out DIR``, ``--stem NAME`` and, when ``quick``
    (its help text: what the smoke configuration runs) is given, ``--quick``. ``script`` is the caller's
    ``__file__``; ``stem`` defaults to its name."""
    name = Path(script).stem
    if description is None:
        description = (sys.modules["__main__"].__doc__ or name).strip().split("\n")[0]
    ap = argparse.ArgumentParser(prog=f"bench/{Path(script).name}", description=description, **kwargs)
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default {RESULTS.relative_to(ROOT)}"
        + (f"; {QUICK_RESULTS.relative_to(ROOT)} with --quick" if quick else "")
        + ")",
    )
    ap.add_argument(
        "--stem", default=stem or name, help=f"file name of the results without suffix (default {stem or name})"
    )
    if quick:
        ap.add_argument("--quick", action="store_true", help=f"a small smoke configuration: {quick}")
    ap.set_defaults(_quick_available=bool(quick))
    return ap


def parse(ap: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``ap.parse_args(argv)`` with ``out`` resolved (see :func:`parser`) and the command line kept as
    ``args.command``."""
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = QUICK_RESULTS if getattr(args, "quick", False) else RESULTS
    args.command = command(ap.prog, argv)
    return args


def command(script: str, argv=None) -> str:
    """The exact command line: ``python bench/<script> <arguments>`` (``argv`` defaults to ``sys.argv[1:]``),
    each argument shell-quoted."""
    args = sys.argv[1:] if argv is None else [str(a) for a in argv]
    path = script if script.startswith("bench/") else f"bench/{Path(script).name}"
    return shlex.join(["python", path, *args])


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def machine() -> dict:
    """What ran the benchmark: CPU model, logical cores (and those this process may use), OS, Python,
    torch / numpy / numba versions, torch's intra- and inter-op threads, torch's CPU capability, the GPU if
    torch sees one, and the environment variables of ``ENV_VARS`` (None when unset)."""
    out = {
        "cpu": cpu_name(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "torch": _version("torch"),
        "env": {k: os.environ.get(k) for k in ENV_VARS},
    }
    if out["torch"] is not None:
        import torch

        out["torch_threads"] = torch.get_num_threads()
        out["torch_interop_threads"] = torch.get_num_interop_threads()
        try:
            out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            out["torch_cpu_capability"] = None
        out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return out


def machine_line(m: dict | None) -> str:
    """One line of Markdown describing ``machine()``'s record (or says it was not recorded)."""
    if not m:
        return "not recorded (written before bench/_harness.py)"
    if isinstance(m, str):  # written before the harness, as one line
        return m
    env = ", ".join(f"{k}={v}" for k, v in m.get("env", {}).items() if v is not None) or "none set"
    threads = f"{m['torch_threads']} torch thread(s)" if m.get("torch_threads") is not None else ""
    parts = [
        f"{m['cpu']} ({m['logical_cores']} logical cores, {m['usable_cores']} usable)",
        m.get("platform", ""),
        f"Python {m['python']}",
        f"torch {m['torch']}",
        f"numpy {m['numpy']}",
        f"numba {m['numba']}",
        threads,
        f"CPU capability {m['torch_cpu_capability']}" if m.get("torch_cpu_capability") else "",
        f"GPU {m['gpu']}" if m.get("gpu") else "",
        f"env: {env}",
    ]
    return "; ".join(p for p in parts if p)


def write_result(
    out: Path | str,
    stem: str,
    data: dict,
    markdown: str,
    *,
    args: argparse.Namespace | None = None,
    rerender: bool = False,
) -> dict:
    """Write ``<out>/<stem>.json`` and ``<stem>.md`` atomically; returns the two paths.

    The JSON gets ``command`` (``args.command``), ``machine`` (:func:`machine`) and ``date`` unless it has
    them; the Markdown ends with the same command and machine. ``rerender=True`` (rewriting the Markdown from
    a stored JSON) fills nothing in: a JSON without a machine says so in the Markdown."""
    out = Path(out)
    data = dict(data)
    if not rerender:
        if args is not None:
            data.setdefault("command", args.command)
        data.setdefault("machine", machine())
        data.setdefault("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    footer = [
        "",
        "---",
        "",
        f"- command: `{data.get('command', 'not recorded')}`",
        f"- machine: {machine_line(data.get('machine'))}",
    ]
    if data.get("date"):
        footer.append(f"- date: {data['date']}")
    out.mkdir(parents=True, exist_ok=True)
    json_path = atomic_write_json(out / f"{stem}.json", json_values(data))
    md_path = atomic_write_bytes(out / f"{stem}.md", (markdown.rstrip("\n") + "\n" + "\n".join(footer) + "\n").encode())
    return {"json": json_path, "md": md_path}


def read_result(out: Path | str, stem: str) -> dict:
    """The stored ``<out>/<stem>.json``."""
    import json

    return json.loads((Path(out) / f"{stem}.json").read_text())
