"""The package's layers point down only (issue #13).

Every ``import`` in ``src/pyglmm`` is read with :mod:`ast` — module-level, lazy (inside a
function) and ``TYPE_CHECKING`` ones alike — and resolved to a module of the package. Each
module has a layer (``LAYERS``, by longest matching prefix); an import from a higher layer fails
unless it is one of the documented facade methods (``FACADES``: a thin method on ``Fit`` that
delegates to the layer that implements it). Independently of layers, the import graph must have
no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pyglmm"

# longest prefix wins; "pyglmm" itself (the public facade, __init__.py) is the top
LAYERS: dict[str, int] = {
    # L0: no pyglmm imports but each other
    "pyglmm._version": 0,
    "pyglmm._quiet": 0,
    "pyglmm._numba_cache": 0,
    "pyglmm._pytensor_cache": 0,
    "pyglmm.errors": 0,
    "pyglmm.stack": 0,
    "pyglmm.datasets": 0,
    "pyglmm.names": 0,
    # L1: what the user wrote, as typed records
    "pyglmm.formula": 1,
    "pyglmm.design": 1,
    "pyglmm.priors": 1,
    "pyglmm.prior_dist": 1,
    "pyglmm.brms_prior": 1,
    "pyglmm.mv_priors": 1,
    "pyglmm.families": 1,
    "pyglmm.spec": 1,
    "pyglmm.nuts": 1,
    # L2: engines (PyMC model, marginal likelihood, numba kernel, REML/ML) and draws in numpy
    "pyglmm.posterior": 2,
    "pyglmm.posterior_mv": 2,
    "pyglmm.compile": 2,
    "pyglmm.marginal": 2,
    "pyglmm.kernel": 2,
    "pyglmm.lmm": 2,
    # L3: running the sampler
    "pyglmm.sampling": 3,
    "pyglmm.init": 3,
    "pyglmm.information": 3,
    # L4: results
    "pyglmm.results": 4,
    # L5: the workflow around fits, and writing a fit
    "pyglmm.workflow": 5,
    "pyglmm.persist": 5,
    # L6: the user-facing objects
    "pyglmm.persist.__init__": 6,  # load_fit rebuilds a Model
    "pyglmm.model": 6,
    "pyglmm.model_mv": 6,
    "pyglmm.model_checks": 6,
    "pyglmm.cli": 6,
    "pyglmm.__main__": 7,
    "pyglmm.__init__": 7,
}

# (importer, imported): upward edges that are facade methods, each a lazy import in a method
FACADES: set[tuple[str, str]] = {
    ("pyglmm.results.fit", "pyglmm.workflow.plots"),  # Fit.plot_trace / plot_forest / ...
    ("pyglmm.results.fit", "pyglmm.workflow.r2"),  # Fit.r2
    ("pyglmm.results.fit", "pyglmm.persist.write"),  # Fit.save
    ("pyglmm.results.fit", "pyglmm.workflow.hypothesis"),  # Fit.hypothesis
    ("pyglmm.results.fit", "pyglmm.workflow.update"),  # Fit.update
    ("pyglmm.results.fit", "pyglmm.workflow.kfold"),  # Fit.kfold
    # LmmFit.bootstrap / confint(method="boot") (and any point fit's): the driver runs refits
    # through the workflow layer's executors
    ("pyglmm.lmm.intervals", "pyglmm.workflow.bootstrap"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts)  # packages keep their ".__init__"


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _canonical(name: str, modules: dict[str, Path]) -> str | None:
    if name in modules:
        return name
    if f"{name}.__init__" in modules:
        return f"{name}.__init__"
    return None


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                hit = _canonical(f"{target}.{alias.name}", modules) or _canonical(target, modules)
                if hit is not None:
                    out.add(hit)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                hit = _canonical(alias.name, modules)
                if hit is not None:
                    out.add(hit)
    out.discard(name)
    return out


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"{name} has no layer in tests/test_layering.py::LAYERS")
    return LAYERS[best]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    for name in graph:
        _layer(name)


def test_imports_point_down(graph: dict[str, set[str]]) -> None:
    upward = sorted(
        f"{a} (L{_layer(a)}) imports {b} (L{_layer(b)})"
        for a, targets in graph.items()
        for b in targets
        if _layer(b) > _layer(a) and (a, b) not in FACADES
    )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_facades_are_still_needed(graph: dict[str, set[str]]) -> None:
    assert all(b in graph[a] for a, b in FACADES), "a FACADES entry no longer exists: remove it"


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_lazy_and_type_only_imports(tmp_path: Path) -> None:
    """The parser counts an import inside a function and under ``TYPE_CHECKING``."""
    code = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .model import Model\n"
        "def f():\n    from .workflow import plots\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(code)
    modules = {
        "pyglmm.probe": path,
        "pyglmm.model": path,
        "pyglmm.workflow.__init__": path,
        "pyglmm.workflow.plots": path,
    }
    assert _imports("pyglmm.probe", path, modules) == {"pyglmm.model", "pyglmm.workflow.plots"}
