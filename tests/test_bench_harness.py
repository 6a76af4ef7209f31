"""bench/_harness.py: the shared arguments, the recorded machine and command, the result files; and that no
bench script edits sys.path (they run as ``python bench/<script>.py`` with the package installed)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("bench_harness_under_test", BENCH / "_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parser_defaults_and_quick_output_folder(harness):
    ap = harness.parser(str(BENCH / "demo_bench.py"), "a demo", quick="tiny")
    ap.add_argument("--k", type=int, default=3)
    args = harness.parse(ap, ["--k", "5"])
    assert args.out == harness.RESULTS and args.stem == "demo_bench" and not args.quick and args.k == 5
    assert harness.parse(ap, ["--quick"]).out == harness.QUICK_RESULTS  # a smoke run never overwrites results
    assert harness.parse(ap, ["--quick", "--out", "elsewhere"]).out == Path("elsewhere")
    no_quick = harness.parser(str(BENCH / "demo_bench.py"), "no smoke configuration")
    with pytest.raises(SystemExit):
        no_quick.parse_args(["--quick"])


def test_write_result_records_machine_and_command(harness, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    ap = harness.parser(str(BENCH / "demo_bench.py"), "a demo")
    ap.add_argument("--label")
    argv = ["--out", str(tmp_path), "--label", "two words"]
    args = harness.parse(ap, argv)
    assert shlex.split(args.command) == ["python", "bench/demo_bench.py", *argv]  # exact, quoted
    paths = harness.write_result(args.out, args.stem, {"value": 1.5}, "# Demo\n\nvalue 1.5", args=args)
    assert paths == {"json": tmp_path / "demo_bench.json", "md": tmp_path / "demo_bench.md"}
    data = json.loads((tmp_path / "demo_bench.json").read_text())
    assert data["value"] == 1.5 and data["command"] == args.command
    m = data["machine"]
    import numba
    import numpy
    import torch

    assert (m["torch"], m["numpy"], m["numba"]) == (torch.__version__, numpy.__version__, numba.__version__)
    assert m["torch_threads"] == torch.get_num_threads() and m["logical_cores"] == os.cpu_count()
    assert m["env"]["OMP_NUM_THREADS"] == "1" and m["env"]["ATEN_CPU_CAPABILITY"] == "avx2"
    assert m["cpu"] and m["python"] == ".".join(map(str, sys.version_info[:3]))
    md = (tmp_path / "demo_bench.md").read_text()
    assert md.startswith("# Demo") and f"`{args.command}`" in md and m["cpu"] in md
    assert "ATEN_CPU_CAPABILITY=avx2" in md and f"torch {torch.__version__}" in md
    # rewriting the Markdown from a stored JSON keeps what it recorded and invents no machine
    old = {"value": 2, "command": "python bench/demo_bench.py --old"}
    harness.write_result(tmp_path, "old", old, "# Old", rerender=True)
    stored = json.loads((tmp_path / "old.json").read_text())
    assert "machine" not in stored and "not recorded" in (tmp_path / "old.md").read_text()
    assert "--old" in (tmp_path / "old.md").read_text()


def _edits_sys_path(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "path"
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            return True
    return False


def test_no_bench_script_edits_sys_path():
    scripts = sorted(BENCH.glob("*.py"))
    assert len(scripts) >= 10
    offenders = [p.name for p in scripts if _edits_sys_path(ast.parse(p.read_text()))]
    assert offenders == []
    # and none imports another script (only the shared helpers: the harness, the problem setting, the memo)
    local = {p.stem for p in scripts}
    for p in scripts:
        for node in ast.walk(ast.parse(p.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            for name in names:
                if name.split(".")[0] in local:
                    assert name in ("_harness", "_problems", "_memo"), f"{p.name} imports the script {name}"


def test_every_bench_script_uses_the_harness():
    for p in sorted(BENCH.glob("*.py")):
        if p.name.startswith("_"):
            continue
        src = p.read_text()
        assert "from _harness import" in src and "parse(" in src and "argparse.ArgumentParser(" not in src, p.name
