"""The package layers (DESIGN.md section 5, trace_opt/__init__): no import cycle among the project's
modules, function-local imports included, and no module imports a module of a higher layer."""

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trace_opt", "solvers", "neighbourhoods")

#: layer of each module (the longest matching prefix decides); a module may import its own layer and lower
LAYERS = {
    "trace_opt.core": 0,
    "neighbourhoods": 0,
    "solvers": 1,
    "trace_opt.models": 1,
    "trace_opt": 2,  # the applications: explanation, attribution, benchmarks
    "trace_opt.cli": 3,
    "trace_opt.__main__": 3,
}


def _modules() -> dict:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> set:
    """Project modules imported anywhere in the file (top level and inside functions). ``from P import x``
    counts as importing module ``P.x`` when that is a module, else ``P``."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def _graph():
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for target in _imports(name, path, modules):
            graph.add_edge(name, target)
    return graph


def test_no_import_cycles_function_local_imports_included():
    graph = _graph()  # a package __init__ importing its submodules is an edge like any other
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles[:10])


def test_no_module_imports_a_higher_layer():
    graph = _graph()
    upward = [(a, b) for a, b in graph.edges if _layer(b) > _layer(a)]
    assert not upward, "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def _private_owner(name: str):
    """The package that owns ``name`` privately (the part before its first ``_private`` component), or None."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_nothing_imports_a_private_module_of_another_package():
    graph = _graph()
    leaks = [
        (a, b)
        for a, b in graph.edges
        if _private_owner(b) is not None and not (a + ".").startswith(_private_owner(b) + ".")
    ]
    assert not leaks, "private modules imported from another package: " + ", ".join(f"{a} -> {b}" for a, b in leaks)
    assert _private_owner("solvers._common") == "solvers" and _private_owner("solvers.base") is None


def test_solvers_neighbourhoods_and_the_core_load_no_torch():
    code = (
        "import sys; import solvers, neighbourhoods, trace_opt.core.problem, trace_opt.core.synthetic; "
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_layer_test_sees_a_function_local_import(tmp_path):
    """The checks read imports inside functions too (a guard against a test that cannot fail)."""
    path = ROOT / "solvers" / "complete.py"
    found = _imports("solvers.complete", path, _modules())
    assert "solvers.kernels" in found  # imported at the top as `from . import kernels`
    text = "def f():\n    from trace_opt.explanation.explainer import explain\n"
    probe = tmp_path / "probe.py"
    probe.write_text(text)
    assert _imports("solvers.probe", probe, _modules()) == {"trace_opt.explanation.explainer"}
    assert _layer("trace_opt.explanation.explainer") > _layer("solvers.probe")
