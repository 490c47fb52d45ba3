"""environment.yml and binder/: one CPU-only environment that covers everything massact and
the notebooks import, checked offline where possible.

* both files parse (pyyaml) and describe the same environment;
* the pip section pins the CPU torch (torch==2.13.0 from the PyTorch CPU index);
* every third-party import in notebooks/*.ipynb and massact/**/*.py maps (through the
  explicit IMPORT_TO_DIST table) to a distribution that is listed, or that a listed one
  depends on; optional imports (OPTIONAL_IMPORTS) stay inside functions;
* binder/postBuild installs massact with --no-deps and never touches torch;
* a pip dry run of the pip section resolves, with the CPU torch (skipped only when pip says
  the network is unreachable);
* the Colab installer (massact/install.py) imports only the standard library, keeps the
  installed torch and says when the runtime must restart (a fake pip, no network);
* no tracked file names a machine path.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = (ROOT / "environment.yml", ROOT / "binder" / "environment.yml")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_PIN = "torch==2.13.0"

#: import name -> distribution name, for every third-party module massact or a notebook imports
IMPORT_TO_DIST = {
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "plotly": "plotly",
    "ipywidgets": "ipywidgets",
    "IPython": "ipython",
    "tqdm": "tqdm",
    "diffusers": "diffusers",
    "safetensors": "safetensors",
    "huggingface_hub": "huggingface-hub",
    "yaml": "pyyaml",
    "nbformat": "nbformat",
}
#: optional imports: import name -> what needs it. They must sit inside a function (never at
#: a module's top level), so that massact imports without them.
OPTIONAL_IMPORTS = {
    "transformers": "CLIP score of RealMetrics (the `clip` extra) and real checkpoints' text encoders",
    "pandas": "ProbeResult.to_pandas (plain dicts otherwise)",
    "accelerate": "CPU offload of real checkpoints on a GPU (massact.load(..., offload=...))",
    "google": "google.colab, only inside Colab",
    "tokenizers": "the tiny pipelines' tokenizers (massact.testing), installed with transformers",
}
FIRST_PARTY = {"massact"}
NETWORK_ERRORS = ("Network is unreachable", "Temporary failure in name resolution", "Name or service not known",
                  "Failed to establish a new connection", "No route to host", "Connection refused",
                  "NewConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "Max retries exceeded",
                  "Could not fetch URL", "ProxyError", "SSLError", "getaddrinfo failed")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_env(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def pip_section(env: dict) -> list[str]:
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return [str(x).strip() for x in dep["pip"]]
    raise AssertionError("no pip: section in the environment's dependencies")


def listed_requirements(env: dict) -> list[Requirement]:
    return [Requirement(line) for line in pip_section(env) if not line.startswith("-")]


@pytest.fixture(scope="module")
def env() -> dict:
    return load_env(ENV_FILES[0])


# -- the two files ------------------------------------------------------------------------------
def test_both_files_parse_and_describe_the_same_environment():
    envs = [load_env(p) for p in ENV_FILES]
    for p, e in zip(ENV_FILES, envs):
        assert isinstance(e, dict) and e.get("dependencies"), f"{p} has no dependencies"
        assert "conda-forge" in e.get("channels", []), f"{p}: use conda-forge"
    assert envs[0] == envs[1], "environment.yml and binder/environment.yml differ"


def test_python_and_cpu_torch_are_pinned(env):
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(re.fullmatch(r"python=3\.1[0-9]", d) for d in conda), conda
    assert "pip" in conda
    pip = pip_section(env)
    assert TORCH_PIN in pip, f"the pip section must pin {TORCH_PIN} (a CPU build with the CPU index)"
    assert f"--extra-index-url {CPU_INDEX}" in pip or f"--index-url {CPU_INDEX}" in pip, pip
    assert not any(canonical(r.name) in ("torchvision", "torchaudio") for r in listed_requirements(env))


def test_runtime_dependencies_are_listed(env):
    """postBuild installs massact with --no-deps: the environment must carry its dependencies."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = {canonical(r.name) for r in listed_requirements(env)}
    missing = [d for d in project["dependencies"] if canonical(Requirement(d).name) not in listed]
    assert not missing, f"pyproject dependencies missing from environment.yml: {missing}"
    assert "jupyterlab" in listed


# -- imports ----------------------------------------------------------------------------------------
def _notebook_imports() -> dict[str, set[str]]:
    """top-level module -> notebooks importing it (code cells; `import a, b as c` and `from x import y`)."""
    found: dict[str, set[str]] = {}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for line in src.splitlines():
                line = line.split("#", 1)[0].strip()
                m = re.match(r"from\s+([A-Za-z_][\w.]*)\s+import\b", line)
                names = [m.group(1)] if m else []
                m = re.match(r"import\s+(.+)", line)
                if m:
                    names += [part.strip().split()[0] for part in m.group(1).split(",") if part.strip()]
                for n in names:
                    found.setdefault(n.split(".")[0], set()).add(nb.name)
    return found


def _package_imports() -> dict[str, list[tuple[str, bool]]]:
    """top-level module -> [(file, at module level?)] for every absolute import in massact/."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted((ROOT / "massact").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        nested = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                nested |= {id(n) for n in ast.walk(node) if n is not node}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                found.setdefault(n.split(".")[0], []).append((str(path.relative_to(ROOT)), id(node) not in nested))
    return found


def _third_party(names) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n not in FIRST_PARTY and n != "__future__"}


def _dependency_closure(roots: set[str]) -> set[str]:
    """Canonical names of roots and everything they require (installed metadata, no extras)."""
    seen, todo = set(), list(roots)
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for r in reqs:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_every_import_is_mapped():
    nb, pkg = _notebook_imports(), _package_imports()
    assert "massact" in nb and "torch" in nb, "the notebook scan found nothing: is notebooks/ there?"
    unknown = sorted(_third_party(set(nb) | set(pkg)) - set(IMPORT_TO_DIST) - set(OPTIONAL_IMPORTS))
    assert not unknown, (f"imports with no distribution in IMPORT_TO_DIST: {unknown}; add the mapping (and the "
                         "package to environment.yml, binder/environment.yml and pyproject.toml)")


def test_every_import_is_covered_by_the_environment(env):
    nb, pkg = _notebook_imports(), _package_imports()
    listed = {canonical(r.name) for r in listed_requirements(env)}
    covered = _dependency_closure(listed)
    uncovered = {}
    for name in sorted(_third_party(set(nb) | set(pkg)) - set(OPTIONAL_IMPORTS)):
        if name not in IMPORT_TO_DIST:
            continue  # test_every_import_is_mapped names it
        dist = canonical(IMPORT_TO_DIST[name])
        if dist not in covered:
            uncovered[name] = (dist, sorted(nb.get(name, set())) + sorted({f for f, _ in pkg.get(name, [])}))
    assert not uncovered, f"imported but neither listed nor a dependency of a listed package: {uncovered}"


def test_optional_imports_are_lazy():
    pkg = _package_imports()
    top_level = {n: [f for f, top in pkg.get(n, []) if top] for n in OPTIONAL_IMPORTS}
    top_level = {n: fs for n, fs in top_level.items() if fs}
    assert not top_level, f"optional imports at module level (import them inside the function): {top_level}"
    nb = _notebook_imports()
    assert not (set(OPTIONAL_IMPORTS) & set(nb)), "a notebook imports an optional package"


# -- binder/postBuild --------------------------------------------------------------------------------
def test_postbuild_installs_massact_without_touching_torch():
    path = ROOT / "binder" / "postBuild"
    text = path.read_text()
    assert text.startswith("#!"), "postBuild needs a shebang"
    assert os.access(path, os.X_OK), "postBuild must be executable (git mode 100755)"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert any(ln.startswith("set -e") for ln in lines), "postBuild should stop at the first error (set -e...)"
    installs = [ln for ln in lines if re.search(r"\bpip\b.*\binstall\b", ln)]
    assert any(re.search(r"(-e\s+)?\.(\s|$)", ln) or "massact" in ln for ln in installs), "postBuild must install massact"
    for ln in installs:
        assert "--no-deps" in ln, f"{ln!r}: without --no-deps pip may replace the environment's CPU torch"
    assert not any(re.search(r"\btorch\b", ln) for ln in lines), "postBuild must not install or remove torch"
    assert not any(re.search(r"\b(conda|mamba)\s+(install|update|remove)", ln) for ln in lines)


# -- the pip dry run ------------------------------------------------------------------------------------
def test_pip_section_resolves_to_a_cpu_torch(env, tmp_path):
    """`pip install --dry-run --report` of the pip section (without the index line). With
    --ignore-installed pip resolves everything as for a fresh environment, so the report lists
    the torch it would install. Needs an index (network, or this machine's configured wheel
    store); skipped only when pip says the network is unreachable."""
    reqs = [ln for ln in pip_section(env) if not ln.startswith("--extra-index-url") and not ln.startswith("--index-url")]
    (tmp_path / "reqs.txt").write_text("\n".join(reqs) + "\n")
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
           "--report", str(report), "-r", str(tmp_path / "reqs.txt"), "--timeout", "20", "--retries", "1",
           "--disable-pip-version-check"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
        output, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        output += (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        rc = None
    network = [ln for ln in output.splitlines() if any(p in ln for p in NETWORK_ERRORS)]
    if rc != 0 and network:
        pytest.skip(f"pip could not reach the package index: {network[0].strip()[:200]}")
    assert rc is not None, f"pip dry run did not finish in 240 s:\n{output[-2000:]}"
    assert rc == 0, f"pip could not resolve environment.yml's pip section:\n{output[-3000:]}"
    resolved = {canonical(i["metadata"]["name"]): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    torch_version = resolved.get("torch")
    assert torch_version is not None, "torch missing from the resolution"
    assert "+cpu" in torch_version or torch_version == "2.13.0", f"resolved torch {torch_version} is not the CPU pin"
    for r in listed_requirements(env):
        assert canonical(r.name) in resolved, f"{r.name} missing from the resolution"
        assert r.specifier.contains(resolved[canonical(r.name)], prereleases=True), (r, resolved[canonical(r.name)])
    assert not any(n.startswith("nvidia-") for n in resolved), "a CUDA runtime slipped into the CPU environment"


# -- the Colab installer (massact/install.py) ----------------------------------------------------------
def _installer():
    """massact/install.py loaded by path, as the notebooks' first cell runs it."""
    import runpy

    return runpy.run_path(str(ROOT / "massact" / "install.py"))


def test_installer_imports_only_the_standard_library():
    """It runs before massact's dependencies exist: every import, at any depth, is stdlib."""
    tree = ast.parse((ROOT / "massact" / "install.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "install.py runs by path: no relative imports"
            names.add(node.module.split(".")[0])
    assert names <= set(sys.stdlib_module_names) | {"__future__"}, names
    out = subprocess.run([sys.executable, "-I", str(ROOT / "massact" / "install.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--ref" in out.stdout, out.stderr


def _fake_pip(versions: dict, after: dict):
    calls = []

    def run(cmd, check):
        assert check
        i = cmd.index("-c")
        calls.append((list(cmd), Path(cmd[i + 1]).read_text()))
        versions.update(after)

    return calls, run


@pytest.mark.parametrize("numpy_after, restart", [("1.26.4", False), ("2.2.0", True)])
def test_installer_keeps_torch_and_detects_a_numpy_upgrade(numpy_after, restart, monkeypatch, capsys):
    inst = _installer()
    versions = {"torch": "2.6.0+cu124", "numpy": "1.26.4"}
    calls, run = _fake_pip(versions, {"numpy": numpy_after})
    import numpy

    monkeypatch.setattr(numpy, "__version__", "1.26.4")  # as if the kernel had imported Colab's numpy
    declared = ["torch>=2.4", "diffusers>=0.35", "numpy"]
    res = inst["install"](run=run, version=versions.get, requirements=lambda: declared)
    out = capsys.readouterr().out
    cmd, constraints = calls[0]
    assert constraints.strip() == "torch==2.6.0+cu124"  # pip may not replace Colab's torch
    assert cmd[-len(declared):] == declared and cmd[:3] == [sys.executable, "-m", "pip"]
    assert res["restart_needed"] is restart and res["torch"] == "2.6.0+cu124"
    assert ("restart the runtime" in out) is restart


def test_installer_without_an_installed_massact_fetches_the_repository(capsys):
    import numpy

    inst = _installer()
    versions = {"torch": "2.6.0", "numpy": numpy.__version__}  # numpy unchanged: no restart
    calls, run = _fake_pip(versions, {})
    inst["install"](ref="abc123", run=run, version=versions.get, requirements=lambda: None)
    assert calls[0][0][-1] == "massact @ git+https://github.com/massact/massact@abc123"
    assert "massact ready" in capsys.readouterr().out


def test_installer_reads_the_declared_requirements_without_extras():
    """The real metadata of this editable install: pyproject's dependencies, no optional extras."""
    import tomllib

    reqs = _installer()["declared_requirements"]()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {canonical(Requirement(r).name) for r in reqs} == {canonical(Requirement(d).name)
                                                              for d in project["dependencies"]}
    assert _installer()["declared_requirements"]("no-such-distribution-here") is None


# -- no machine paths ------------------------------------------------------------------------------------
MACHINE_PATH = re.compile("|".join(["/" + "work/", "/" + "home/[a-z]", "/" + "Users/[A-Za-z]", "[A-Z]:" + r"\\Users"]))


def test_no_tracked_file_names_a_machine_path():
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    hits = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".safetensors", ".png", ".pt", ".bin"):
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        hits += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]
    assert not hits, f"machine paths in the tree (write them relative or not at all): {hits[:20]}"


# -- the notebooks' first cell -------------------------------------------------------------------------
def _setup_cell() -> str:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from nbtools import SETUP
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return SETUP


def test_every_notebook_starts_with_the_one_setup_cell():
    setup = _setup_cell()
    code = [ln for ln in setup.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(code) <= 10, f"the first cell should stay a few lines, has {len(code)}"
    assert "install.py" in setup and "ModelChooser.for_this_machine()" in setup
    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        first = next(c for c in cells if c["cell_type"] == "code")
        src = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
        assert src == setup, f"{nb.name}: the first cell is not scripts/nbtools.SETUP (run scripts/finalize_notebooks.py)"


def test_the_setup_cell_runs_where_massact_is_installed():
    """Here massact is installed: no pip, the toy model and a CPU chooser (no GPU is asked for)."""
    code = _setup_cell() + "\nprint('MODEL', type(model).__name__, model.num_blocks, chooser.choice)"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pip" not in out.stdout and "No GPU" in out.stdout
    assert "MODEL" in out.stdout and out.stdout.strip().endswith(" toy"), out.stdout
