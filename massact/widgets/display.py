"""Where a notebook's figures show: plotly's renderer for the environment found, a static fallback on Colab.

``setup_display()`` runs in every notebook's first cell (``ModelChooser.for_this_machine()``
calls it). It reads the environment once:

* **Colab** (``google.colab`` imported, or the ``COLAB_RELEASE_TAG`` / ``COLAB_GPU``
  variables Colab sets; also a Colab runtime driven from VS Code, where plotly's own
  detection fails): plotly's renderer is ``"colab"``, and the custom widget manager is
  enabled (third-party widgets such as ipywidgets' need it). A plotly figure drawn inside a
  widget's output does not show on Colab ("Plotly is not defined"), so the explorers draw
  their figures there as static PNGs (``static_figures()``);
* **VS Code** (``VSCODE_PID``): renderer ``"vscode"``;
* **Jupyter** (anything else: JupyterLab, Notebook, Binder, nbval): plotly's default is kept.

The functions take the environment and the loaded modules as arguments (default: this
process's), so a test sets the markers Colab sets and checks what the explorers output.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping

#: the environments ``environment()`` tells apart
ENVIRONMENTS = ("colab", "vscode", "jupyter")
#: plotly renderer per environment (None: keep plotly's default)
RENDERERS = {"colab": "colab", "vscode": "vscode", "jupyter": None}


def environment(environ: Mapping[str, str] | None = None, modules: Mapping | None = None) -> str:
    """The notebook environment: one of ``ENVIRONMENTS``.

    Args:
        environ: environment variables (default ``os.environ``).
        modules: loaded modules (default ``sys.modules``).
    Returns:
        "colab", "vscode" or "jupyter".
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "google.colab" in modules or "COLAB_RELEASE_TAG" in environ or "COLAB_GPU" in environ:
        return "colab"
    if "VSCODE_PID" in environ:
        return "vscode"
    return "jupyter"


def static_figures(environ: Mapping[str, str] | None = None, modules: Mapping | None = None) -> bool:
    """Whether explorers draw their figures as static PNGs (Colab: plotly inside widget output does not show).

    Args:
        environ, modules: as for ``environment``.
    """
    return environment(environ, modules) == "colab"


def setup_display(environ: Mapping[str, str] | None = None, modules: Mapping | None = None) -> dict:
    """Set plotly's renderer for this environment and, on Colab, enable the custom widget manager.

    Args:
        environ, modules: as for ``environment`` (tests pass Colab's markers).
    Returns:
        {"environment", "renderer" (None: plotly's default kept), "custom_widget_manager"
        (whether it was enabled), "static_figures"}.
    """
    import plotly.io as pio

    env = environment(environ, modules)
    renderer = RENDERERS[env]
    if renderer is not None:
        pio.renderers.default = renderer
    enabled = False
    if env == "colab":
        try:
            from google.colab import output  # only on Colab

            output.enable_custom_widget_manager()
            enabled = True
        except ImportError:  # Colab's markers without its module (a test, or a copied environment)
            pass
    return {"environment": env, "renderer": renderer, "custom_widget_manager": enabled,
            "static_figures": env == "colab"}
