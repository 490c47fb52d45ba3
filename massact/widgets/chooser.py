"""Which model a notebook studies: the toy on a CPU, a real checkpoint on a GPU.

The first cell of every notebook::

    chooser = ModelChooser.for_this_machine()
    model = chooser.model

* **On a CPU** the chooser holds the embedded toy model and prints one line; it has no
  widget. Nothing is downloaded, nothing waits for a click: this is what nbval, Binder and
  CI run.
* **On a GPU** it also holds the toy at once (the cell never blocks) and displays a dropdown
  of ``massact.presets`` (plus "toy") with the preset that fits the card it finds
  preselected (``presets.recommended``), the advice for this card (dtype, memory plan,
  steps, resolution, a rough time, warnings), the plan of every preset on this card, and a
  **Load** button. Load calls ``massact.load(preset_key, **advice.load_kwargs())``: it downloads
  the checkpoint from the Hugging Face Hub (the user's choice: nothing is fetched before) and
  wraps it with the advised dtype, memory plan, resolution, steps and guidance; afterwards
  ``chooser.model`` is the loaded model, and ``chooser.on_load(fn)`` calls ``fn(model)``.

* **With ``MASSACT_MODEL`` set** (``MASSACT_MODEL=tiny-flux``, a preset key or label, a
  hub id or a local directory) the chooser loads that model at once instead of the toy, on
  a CPU as on a GPU, and shows no widget: this is how one notebook sequence runs on another
  model (CI runs every notebook on ``tiny-flux`` this way). "toy" or an empty value means the toy.

The chooser is an object: each call makes its own, and nothing is kept at module level.
``notebook_model()`` is the one-line form for scripts (the chooser's model at once).
"""
from __future__ import annotations

import html
import os
from typing import Callable

from ..loading import load
from ..presets import PRESETS, Advice, Card, advise, get_preset, gpu_info, plan, recommended
from .display import setup_display

#: what the chooser says about the toy model
TOY_LINE = ("toy: the embedded 7-block model (32x32 images); runs every notebook on a CPU in minutes. "
            "Nothing to download.")


#: the environment variable naming the model every notebook studies (unset or "toy": the toy)
MODEL_ENV = "MASSACT_MODEL"


def _load_toy():
    return load("toy")


def model_from_environment(device: str | None = None):
    """The model ``MASSACT_MODEL`` names, loaded; None when it is unset, empty or "toy".

    Args:
        device: where a preset's pipeline goes (default: "cuda" when available, else "cpu").
    Returns:
        a ``MassactModel``, or None for the toy.
    Raises:
        ValueError for a name that is neither "toy", a tiny pipeline, a preset, a local
        directory nor a hub id (from ``massact.load``).
    """
    name = os.environ.get(MODEL_ENV, "").strip()
    if not name or name == "toy":
        return None
    try:
        get_preset(name)
    except ValueError:
        return load(name)
    import torch

    return load(name, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _html_plan(card: Card) -> str:
    rows = "".join(f"<tr><td>{html.escape(a.preset.label)}</td><td>{html.escape(a.summary())}</td></tr>"
                   for a in plan(card))
    return (f"<details><summary>every preset on this card</summary><table>{rows}</table>"
            "<div style='font-size:85%'>times computed, not measured (massact.presets)</div></details>")


def _html_advice(advice: Advice | None) -> str:
    if advice is None:
        return f"<div style='font-size:90%'>{html.escape(TOY_LINE)}</div>"
    rows = []
    for line in advice.text().splitlines():
        esc = html.escape(line)
        if line.startswith("warning:") or line.startswith("LIKELY DOES NOT FIT"):
            esc = f"<span style='color:#b35900'>&#9888; {esc}</span>"
        rows.append(esc)
    return "<div style='font-size:90%'>" + "<br>".join(rows) + "</div>"


class ModelChooser:
    """The model a notebook studies, and on a GPU the dropdown that changes it.

    Attributes:
        model: the current model (the toy until a preset has loaded).
        gpu: the card (a ``presets.Card``), or None on a CPU.
        widget: the box to display (None on a CPU: there is nothing to choose).
        dropdown, advice_html, plan_html, button, status: the parts of the widget (GPU only).
        loader: what Load calls, ``massact.load`` unless replaced (tests pass a fake).
    """

    def __init__(self, gpu: Card | None = None, default: str | None = None, toy=None,
                 loader: Callable | None = None):
        """Args:
            gpu: the card, or None for a CPU-only chooser (no widget).
            default: the preselected choice: "toy" or a preset key, label or hub id; None: on a
              GPU the preset ``presets.recommended`` picks for the card (the model stays the toy
              until Load), on a CPU the toy.
            toy: the toy model to start with (default: loaded here).
            loader: ``fn(preset_key, **advice.load_kwargs()) -> model`` (default ``massact.load``).
        """
        self.gpu = gpu
        if default is None:
            default = recommended(gpu) if gpu is not None else "toy"
        self.default = "toy" if default == "toy" else get_preset(default).key
        self.model = _load_toy() if toy is None else toy
        self.loader = loader or load
        self._callbacks: list[Callable] = []
        self.widget = None
        if gpu is None:
            return
        import ipywidgets as W

        options = [("toy (embedded, CPU-sized)", "toy")] + [(f"{p.label} · {p.hub_id}", k) for k, p in PRESETS.items()]
        self.dropdown = W.Dropdown(options=options, value=self.default, description="model",
                                   layout=W.Layout(width="max-content"))
        self.advice_html = W.HTML()
        self.plan_html = W.HTML(_html_plan(gpu))
        self.button = W.Button(description="Load", button_style="primary", icon="download",
                               tooltip="download (if not cached) and load the chosen checkpoint")
        self.status = W.Label(value="using the toy model")
        self.dropdown.observe(lambda _: self.update(), names="value")
        self.button.on_click(lambda _: self.load(raise_errors=False))
        self.widget = W.VBox([W.HBox([self.dropdown, self.button]), self.advice_html, self.plan_html, self.status])
        self.update()

    @classmethod
    def for_this_machine(cls, default: str | None = None, gpu: Card | None | bool = None, display: bool = True,
                         name: str | None = "chooser", **kwargs) -> "ModelChooser":
        """The first notebook cell's chooser: never blocks, never downloads.

        With ``display`` it first sets up the notebook's figures (``display.setup_display``:
        plotly's renderer for Colab, VS Code or Jupyter; Colab's custom widget manager).

        Args:
            default: the preselected choice on a GPU ("toy" or a preset; None: the preset that
              fits the card, ``presets.recommended``). The model is the toy until Load.
            gpu: None to detect the card, False to act as on a CPU, or a ``presets.Card`` (tests).
            display: show the widget (on a GPU) and print one line saying what ``model`` is.
            name: the variable the notebook keeps the chooser in (for that line), or None.
            **kwargs: passed to ``ModelChooser`` (toy=, loader=).
        Returns:
            a ``ModelChooser`` whose ``model`` is the toy, or the model ``MASSACT_MODEL`` names.
        """
        if display:
            setup_display()
        chosen = model_from_environment()
        if chosen is not None:
            chooser = cls(None, toy=chosen, **kwargs)
            if display:
                print(f"{MODEL_ENV}={os.environ[MODEL_ENV].strip()}: using {getattr(chosen, 'name', chosen)!r} "
                      f"({chosen.num_blocks} blocks, {chosen.width} channels, {chosen.height_px}x{chosen.width_px} "
                      f"px, {chosen.default_steps} steps).")
            return chooser
        info = None if gpu is False else (gpu if isinstance(gpu, Card) else gpu_info())
        if info is None:
            if default not in (None, "toy"):
                get_preset(default)  # a typo still gets its error on a CPU
            chooser = cls(None, **kwargs)
            if display:
                extra = "" if default in (None, "toy") else f" (preset {get_preset(default).label} needs a GPU)"
                print(f"No GPU: using the embedded toy model{extra}.")
            return chooser
        chooser = cls(info, default=default, **kwargs)
        if display:
            from IPython.display import display as show

            show(chooser.widget)
            then = (f"then run `model = {name}.model`" if name else
                    "then keep a ModelChooser.for_this_machine() to reach the loaded model")
            print(f"GPU {info.name} ({info.mem_gb:.0f} GiB): using the toy model for now. Pick a preset (preselected: "
                  f"{chooser.default}, which fits this card), press Load, {then}.")
        return chooser

    @property
    def choice(self) -> str:
        """The selected key ("toy" on a CPU)."""
        return "toy" if self.widget is None else self.dropdown.value

    def advice(self) -> Advice | None:
        """The advice for the selected preset on this card (None for the toy)."""
        if self.choice == "toy" or self.gpu is None:
            return None
        return advise(self.choice, self.gpu)

    def update(self) -> None:
        """Redraw the advice for the current selection."""
        adv = self.advice()
        self.advice_html.value = _html_advice(adv)
        self.button.description = "Load" if adv is None or adv.fits else "Load anyway"

    def on_load(self, fn: Callable) -> None:
        """Call ``fn(model)`` after each successful load."""
        self._callbacks.append(fn)

    def load(self, raise_errors: bool = True):
        """Load the selected model (downloads a real checkpoint if it is not cached).

        Args:
            raise_errors: re-raise a failure (the button passes False: the status line says why).
        Returns:
            the loaded model, or None after a failure (the previous model stays).
        """
        if self.widget is None:
            raise RuntimeError("this chooser was made for a CPU: there is nothing to load but the toy (chooser.model)")
        self.button.disabled = True
        try:
            if self.choice == "toy":
                model = _load_toy()
            else:
                adv = self.advice()
                self.status.value = (f"loading {adv.preset.label} ({adv.dtype}, offload {adv.offload}): downloading "
                                     f"~{adv.preset.total_gb:.0f} GB the first time, this can take minutes ...")
                model = self.loader(adv.preset.key, **adv.load_kwargs())
            self.model = model
            self.status.value = (f"loaded {getattr(model, 'name', self.choice)}: run `model = chooser.model`, then the "
                                 "cells below")
            for fn in self._callbacks:
                fn(model)
            return model
        except Exception as exc:  # shown in the status line; the previous model stays
            self.status.value = f"could not load {self.choice}: {type(exc).__name__}: {exc}"
            if raise_errors:
                raise
            return None
        finally:
            self.button.disabled = False


def notebook_model(default: str | None = None, gpu: Card | None | bool = None, display: bool = True):
    """The chooser's model at once (the toy): ``ModelChooser.for_this_machine(...).model``.

    Keep the chooser itself (``for_this_machine``) to reach a model loaded later.

    Args:
        default, gpu, display: as for ``ModelChooser.for_this_machine``.
    Returns:
        the toy model.
    """
    return ModelChooser.for_this_machine(default=default, gpu=gpu, display=display, name=None).model
