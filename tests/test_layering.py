"""The layering of massact, pinned: read every module's imports with ``ast`` and check the graph.

Every import counts: module level and inside functions, absolute and relative,
``from package import submodule`` (an edge to the submodule) and ``from package import
name`` (an edge to the package's ``__init__``, a node of its own), and
``importlib.import_module("massact...")`` with a constant name. Imports under
``if TYPE_CHECKING:`` do not run and are skipped.

The rules (docs/architecture.md):

* no import cycles between modules;
* a core module imports only core modules (never the toy, loading, claims, readings, a face
  or the package root);
* the toy wing imports only the core (it plugs in through ``model.world`` / ``model.metrics()``);
  so do the tiny-pipeline fixtures (``massact.testing``);
* claims never import a face, the readings, the toy, loading or the package root (the last
  two import the toy);
* readings never import a face, the toy, loading or the package root;
* loading (``loading`` and ``presets``, above the core and the toy) never imports claims, readings or
  faces;
* no face imports the toy (only the toy wing and loading name it);
* every module belongs to a layer, and no import is hidden from the graph (``import_module``
  with a computed name).

``test_the_import_graph_is_layered`` reports every violation in one message.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "massact"

CORE = {"adapters", "checks", "specs", "channel_stats", "hooks", "selection", "calibration", "generation", "ranking",
        "clustering", "metrics", "models", "world", "stats", "flow"}
FACES = {"report", "plots", "widgets", "exercises", "install", "cli", "sweep"}
#: the loading layer: ``load`` and the table of real checkpoints it knows by name
LOADING = {"loading", "presets"}
#: the area of a module (its first name under massact) -> its layer
LAYER = {**{m: "core" for m in CORE}, **{m: "faces" for m in FACES}, **{m: "loading" for m in LOADING},
         "toy": "toy", "testing": "fixtures", "claims": "claims", "readings": "readings", "__main__": "entry",
         "": "entry"}
#: importer layer -> (layers it may not import, why)
FORBIDDEN = {
    "core": ({"toy", "fixtures", "loading", "claims", "readings", "faces", "entry"},
             "a core module imports only the core (the toy plugs in through model.world / model.metrics())"),
    "toy": ({"fixtures", "loading", "claims", "readings", "faces", "entry"}, "the toy wing imports only the core"),
    "fixtures": ({"toy", "loading", "claims", "readings", "faces", "entry"},
                 "massact.testing (tiny pipelines) builds on the core only"),
    "claims": ({"faces", "readings", "toy", "loading", "entry"},
               "claims never import faces, readings or the toy (loading and the package root import the toy)"),
    "readings": ({"faces", "toy", "loading", "entry"}, "readings never import faces or the toy"),
    "loading": ({"claims", "readings", "faces", "entry"}, "loading sits below the claims and the faces"),
    "faces": ({"toy"}, "only the toy wing and loading name the toy: faces ask model.world"),
}


# -- reading the imports ------------------------------------------------------------------------
def module_files(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package __init__) for every module of the package."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (never executed)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            t = node.test
            name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skip |= {id(n) for n in ast.walk(child)}
    return skip


def _resolve(dotted: str, known: set[str]) -> str | None:
    """The longest known module that ``dotted`` names (None outside the package)."""
    if dotted != PACKAGE and not dotted.startswith(PACKAGE + "."):
        return None
    while dotted and dotted not in known:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def imports_of(name: str, is_pkg: bool, source: str, known: set[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """The package modules one module imports, and the imports the graph cannot see.

    Args:
        name: the module's dotted name; is_pkg: it is a package ``__init__``.
        source: its text; known: every module name of the package.
    Returns:
        ([(imported module, line)], [description of each hidden import]).
    """
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    edges, hidden = [], []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, known)
                if target:
                    edges.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                target = sub if sub in known else _resolve(module, known)
                if target:
                    edges.append((target, node.lineno))
        elif isinstance(node, ast.Call):
            f = node.func
            fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if fname in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    target = _resolve(arg.value, known)
                    if target:
                        edges.append((target, node.lineno))
                else:
                    hidden.append(f"{name} (line {node.lineno}): {fname}() with a computed name hides an import "
                                  "from the graph; import the modules by name (or list them in a static table)")
    return edges, hidden


def import_graph(root: Path = ROOT):
    """{module: {imported module: first line}} and the hidden imports, for the whole package."""
    files = module_files(root)
    known = set(files)
    graph, hidden = {}, []
    for name, (path, is_pkg) in files.items():
        edges, h = imports_of(name, is_pkg, path.read_text(), known)
        graph[name] = {}
        for target, line in edges:
            if target != name:
                graph[name].setdefault(target, line)
        hidden += h
    return graph, hidden


# -- checking it --------------------------------------------------------------------------------------
def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (a list of modules, first = last) per strongly connected component of size > 1."""
    index, low, on, stack, comps = {}, {}, set(), [], []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    out = []
    for comp in comps:  # a shortest way round, from the component's first module back to it
        start = min(comp)
        prev, frontier = {start: None}, [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph.get(v, ())):
                    if w == start:
                        found = v
                        break
                    if w in comp and w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path, v = [start], found
        while v is not None and v != start:
            path.insert(1, v)
            v = prev[v]
        out.append(path + [start])
    return out


def violations(graph: dict[str, dict[str, int]], hidden: list[str]) -> list[str]:
    """Every broken rule, one line each."""
    out = list(hidden)
    for module in sorted(graph):
        if area(module) not in LAYER:
            out.append(f"{module}: not in any layer (add '{area(module)}' to LAYER in tests/test_layering.py and "
                       "to docs/architecture.md)")
    for module in sorted(graph):
        layer = LAYER.get(area(module))
        banned, why = FORBIDDEN.get(layer, (set(), ""))
        for target, line in sorted(graph[module].items()):
            if LAYER.get(area(target)) in banned:
                out.append(f"{module} (line {line}) imports {target}: {why}")
    for cycle in cycles(graph):
        steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:]))
        out.append(f"import cycle: {steps} -> {cycle[-1]}")
    return out


# -- the tests --------------------------------------------------------------------------------------------
def test_the_import_graph_is_layered():
    graph, hidden = import_graph()
    assert len(graph) > 20 and "massact.hooks" in graph["massact.generation"], "the import scan found too little"
    found = violations(graph, hidden)
    assert not found, f"{len(found)} layering violation(s):\n  " + "\n  ".join(found)


def test_the_scan_sees_every_kind_of_import(tmp_path):
    """The checker itself on a planted package: it must find each edge, rule break and cycle."""
    pkg = tmp_path / PACKAGE
    files = {
        "__init__.py": "from .loading import load\n",
        "loading.py": "def load():\n    from .toy import model\n",
        "hooks.py": "import typing\nif typing.TYPE_CHECKING:\n    from .claims import critical\n",
        "generation.py": "from . import hooks\n\ndef f():\n    import massact.claims.critical\n",
        "claims/__init__.py": "",
        "claims/critical.py": "from ..generation import generate\nfrom ..plots import grid\n",
        "plots/__init__.py": "from .common import grid\n",
        "plots/common.py": "import importlib\nm = importlib.import_module('massact.toy.model')\n"
                           "n = importlib.import_module(name)\n",
        "toy/__init__.py": "",
        "toy/model.py": "from massact import widgets\n",
        "widgets/__init__.py": "",
        "oddity.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    graph, hidden = import_graph(tmp_path)
    assert set(graph["massact"]) == {"massact.loading"}
    assert set(graph["massact.loading"]) == {"massact.toy.model"}  # inside a function
    assert graph["massact.hooks"] == {}  # TYPE_CHECKING only
    assert set(graph["massact.generation"]) == {"massact.hooks", "massact.claims.critical"}
    assert set(graph["massact.claims.critical"]) == {"massact.generation", "massact.plots"}  # name -> the __init__
    assert set(graph["massact.plots.common"]) == {"massact.toy.model"} and len(hidden) == 1
    found = "\n".join(violations(graph, hidden))
    for expected in ("massact.oddity: not in any layer", "massact.generation (line 4) imports massact.claims.critical",
                     "massact.claims.critical (line 2) imports massact.plots", "massact.plots.common (line 2) imports "
                     "massact.toy.model", "massact.toy.model (line 1) imports massact.widgets",
                     "import cycle: massact.claims.critical (line 1) -> massact.generation (line 4) -> "
                     "massact.claims.critical", "computed name"):
        assert expected in found, f"missing {expected!r} in:\n{found}"
