"""Install massact's dependencies where massact itself was just fetched (Colab), keeping the installed torch.

Standard library only, so it runs before any dependency exists. The notebooks' first cell
fetches massact without its dependencies, then runs this file by path (importing
``massact.install`` would run the package's ``__init__``, which needs the dependencies)::

    import importlib, importlib.util, runpy, subprocess, sys
    if importlib.util.find_spec("massact") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", SOURCE], check=True)
        importlib.invalidate_caches()
        runpy.run_path(importlib.util.find_spec("massact").submodule_search_locations[0] + "/install.py")["install"]()

``install()`` asks pip for the requirements massact declares (``importlib.metadata``; the
repository at ``ref`` when massact is not installed at all), with a pip constraint
``torch==<installed>`` so that pip neither upgrades nor replaces the runtime's CUDA torch.
If numpy changed version (or this kernel had already imported another numpy), the runtime
must restart: it says so and returns ``restart_needed=True``.

From a shell: ``python massact/install.py [--ref REF] [--repo URL]`` (exit code 3 when a
restart is needed).
"""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from typing import Callable

#: the repository massact is fetched from when it is not installed
REPO_URL = "https://github.com/massact/massact"
#: the exit code of ``python install.py`` when the runtime must restart
RESTART_EXIT_CODE = 3


def installed_version(dist: str, python: str | None = None) -> str | None:
    """The version pip sees now, asked in a fresh interpreter (this process may hold an older import).

    Args:
        dist: a distribution name, e.g. "numpy".
        python: the interpreter to ask (default: this one).
    Returns:
        the version string, or None when the distribution is not installed.
    """
    code = ("import importlib.metadata as m, sys\n"
            "try: print(m.version(sys.argv[1]))\n"
            "except m.PackageNotFoundError: print('')")
    out = subprocess.run([python or sys.executable, "-c", code, dist], capture_output=True, text=True)
    return out.stdout.strip() or None


def declared_requirements(dist: str = "massact") -> list[str] | None:
    """The requirements an installed distribution declares, without its extras.

    Args:
        dist: the distribution name.
    Returns:
        requirement strings (markers kept: pip evaluates them), or None when ``dist`` is not installed.
    """
    try:
        reqs = importlib.metadata.requires(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    # "extra == ..." markers belong to optional extras; stdlib cannot evaluate markers, pip can
    return [r for r in (reqs or []) if "extra ==" not in r.replace('"', "").replace("'", "")]


def install(ref: str = "main", repo: str = REPO_URL, run: Callable = subprocess.run,
            version: Callable[[str], str | None] = installed_version,
            requirements: Callable[[], list[str] | None] = declared_requirements, quiet: bool = True) -> dict:
    """Install what massact needs without touching torch; say whether the runtime must restart.

    Args:
        ref: the git ref to install massact from when it is not installed at all.
        repo: the repository URL for that case.
        run, version, requirements: pip runner, version probe and requirement source
          (injectable for tests; nothing here needs them replaced in real use).
        quiet: pass -q to pip.
    Returns:
        {"command": the pip command, "torch": the kept torch version or None,
         "numpy_before", "numpy_after", "restart_needed": bool}.
    """
    torch_v = version("torch")
    numpy_before = version("numpy")
    reqs = requirements()
    targets = list(reqs) if reqs is not None else [f"massact @ git+{repo}@{ref}"]
    cmd = [sys.executable, "-m", "pip", "install"] + (["-q"] if quiet else [])
    with tempfile.TemporaryDirectory() as tmp:
        if torch_v:
            constraints = os.path.join(tmp, "constraints.txt")
            with open(constraints, "w") as f:
                f.write(f"torch=={torch_v}\n")
            cmd += ["-c", constraints]
        cmd += targets
        if targets:
            run(cmd, check=True)
    numpy_after = version("numpy")
    imported = getattr(sys.modules.get("numpy"), "__version__", None)
    restart = (numpy_before != numpy_after) or (imported is not None and imported != numpy_after)
    if not torch_v:
        print("massact's dependencies installed; no torch was installed before, so pip chose one (pin a CPU or "
              "CUDA build yourself if that matters).")
    if restart:
        print(f"numpy changed ({imported or numpy_before} -> {numpy_after}): restart the runtime now "
              "(Runtime > Restart session), then run this cell again.")
    else:
        where = "the installed massact's requirements" if reqs is not None else f"{repo}@{ref}"
        print(f"massact ready: installed {where}; torch {torch_v or '(new)'} kept.")
    return {"command": cmd, "torch": torch_v, "numpy_before": numpy_before, "numpy_after": numpy_after,
            "restart_needed": restart}


def main(argv: list[str] | None = None) -> int:
    """``python install.py [--ref REF] [--repo URL]``: 0 when ready, 3 when the runtime must restart."""
    import argparse

    p = argparse.ArgumentParser(prog="install.py", description=__doc__.splitlines()[0])
    p.add_argument("--ref", default="main", help="git ref, used when massact is not installed (default main)")
    p.add_argument("--repo", default=REPO_URL, help=f"repository URL (default {REPO_URL})")
    a = p.parse_args(argv)
    return RESTART_EXIT_CODE if install(ref=a.ref, repo=a.repo)["restart_needed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
