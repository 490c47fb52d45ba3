"""The shared face of every explorer: controls, a Run button, a status line, an image and the metrics.

    class MyExplorer(Explorer):
        def __init__(self, model):
            self.k = W.IntSlider(value=4, min=1, max=16, description="k")
            self._build([[self.k]])          # rows of controls; builds run_button, status, image, html
        def compute(self):                   # what Run does; raise to report an error
            self.show_images(images, cols=4)
            self.html.value = self.table(["metric", "value"], [["MSE", 0.1]])

``update()`` is what the Run button calls (tests call it directly). It disables the button
while it runs, shows "running: ..." and then "done in N s" (or the note ``compute`` returns),
and never raises: an exception lands in ``last_error``, the status line and the HTML panel,
with the button enabled again. Hooks are not this class's business: ``generate`` and
``Tracer`` remove theirs even when sampling fails.

A control change either recomputes (``live``) or says "settings changed: press Run".

Shared controls, built here once so that they look and read the same in every explorer:

* ``block_control`` / ``step_control``: an ``IntRangeSlider`` "blocks" / "steps" (from, to, both
  included): the blocks (steps) an explorer edits or reads; ``span`` reads it as indices and
  ``spec`` as a ``Selection`` specification ("all" for the whole range);
* ``channels_field``: a text field of named channels ("98, 32"; empty = the arm), read by
  ``massact.selection.parse_channels``;
* ``compare_control``: a checkbox that runs every arm on the same images in one run.

An explorer built with ``history=True`` keeps a table of its past runs (``record()``: the
settings and headline numbers of the run just done, newest first) and a Reset button that
clears it and restores the controls' initial values.
"""
from __future__ import annotations

import html
import time
from typing import Iterable, Sequence

import ipywidgets as W

from ..plots.common import columns_to_panels, figure_png, grid_png
from ..selection import ARMS, NAMED, parse_channels, resolve_blocks, resolve_steps
from .display import static_figures


def _range_slider(name: str, indices: tuple[int, ...], n: int, tooltip: str) -> W.IntRangeSlider:
    return W.IntRangeSlider(value=(min(indices), max(indices)), min=0, max=n - 1, description=name,
                            continuous_update=False, tooltip=tooltip)


def block_control(num_blocks: int, value="all") -> W.IntRangeSlider:
    """The blocks control of every explorer: a range slider "blocks" over 0..num_blocks-1.

    Args:
        num_blocks: the model's blocks.
        value: the initial blocks, a block specification ("all", "early", "late", 3, "2-5" or
          a tuple of ints; see ``resolve_blocks``), shown as its lowest..highest block.
    Returns:
        an ``ipywidgets.IntRangeSlider`` whose value is (first block, last block), both included.
    """
    return _range_slider("blocks", resolve_blocks(value, num_blocks), num_blocks,
                         "the blocks from..to (both included): 0 = the first block")


def step_control(num_steps: int, value="all") -> W.IntRangeSlider:
    """The steps control of every explorer: a range slider "steps" over 0..num_steps-1.

    Args:
        num_steps: the number of denoising steps.
        value: the initial steps, a step specification ("all", "early" = the noisiest half,
          "late", 3, "2-5" or a tuple of ints; see ``resolve_steps``), shown as its lowest..highest step.
    Returns:
        an ``ipywidgets.IntRangeSlider`` whose value is (first step, last step), both included.
    """
    return _range_slider("steps", resolve_steps(value, num_steps) or tuple(range(num_steps)), num_steps,
                         "the denoising steps from..to (both included): 0 = the first, noisiest step")


def span(control: W.IntRangeSlider) -> tuple[int, ...]:
    """The indices a block or step control selects: first..last, both included."""
    lo, hi = control.value
    return tuple(range(lo, hi + 1))


def spec(control: W.IntRangeSlider):
    """A block or step control as a ``Selection`` specification: "all" for its whole range, else the indices."""
    return "all" if tuple(control.value) == (control.min, control.max) else span(control)


def channels_field() -> W.Text:
    """The named-channels field of every explorer: "98" or "98, 32" (empty: only the arms)."""
    return W.Text(value="", description="channels", placeholder="e.g. 98, 32 (empty: the arm)",
                  tooltip="channel numbers to run beside the arm, the same at every block",
                  layout=W.Layout(width="300px"))


def compare_control() -> W.Checkbox:
    """The compare switch of every explorer: run top, bottom and random (and the named channels) on the same images."""
    return W.Checkbox(value=False, description="compare arms",
                      tooltip="run top, bottom and random (and the named channels) on the same images, side by side")


class Explorer:
    """Base class of the notebook explorers (see the module docstring for the contract).

    Attributes (after ``_build``):
        widget: the box to display.
        run_button, status, image (an ``ipywidgets.Image`` holding PNG bytes), html (the
        metrics panel), output (an ``ipywidgets.Output`` for a plotly figure, or None),
        live (the "update on change" checkbox, or None), last_error (the exception of the
        last update, or None).
    """

    #: what the status line says while ``compute`` runs
    running = "running..."

    def _build(self, rows: Sequence[Sequence[W.Widget] | W.Widget], live: bool | None = None,
               always_live: bool = False, figure: bool = False, side_by_side: bool = False,
               run: bool = True, history: bool = False) -> None:
        """Lay out the controls and the shared parts; optionally run once.

        Args:
            rows: the controls, one inner sequence per line (a single widget is a line too).
            live: None for no "update on change" checkbox, else its initial value.
            always_live: every control change recomputes (cheap explorers; no checkbox).
            figure: show a plotly figure in an ``Output`` (``show_figure``) instead of the image.
            side_by_side: the image (or figure) and the metrics panel on one line.
            run: call ``update()`` at once.
            history: keep a table of past runs (``record``) with a Reset button.
        """
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="recompute with the current settings")
        self.status = W.Label(value="")
        self.image = W.Image(format="png")
        self.html = W.HTML()
        self.output = W.Output() if figure else None
        self.figure = None
        self.static_png: bytes | None = None
        self.live = None if live is None else W.Checkbox(value=bool(live), description="update on change")
        self.last_error: Exception | None = None
        self._always_live = always_live
        self._resetting = False
        lines = [W.HBox(list(r)) if not isinstance(r, W.Widget) else r for r in rows]
        self._defaults = [(control, control.value) for control in self._controls(rows)]
        for control, _ in self._defaults:
            control.observe(self._changed, names="value")
        self.run_button.on_click(lambda _: self.update())
        self.history: list[dict] | None = [] if history else None
        self.history_html = W.HTML() if history else None
        self.reset_button = None
        extra = []
        if history:
            self.reset_button = W.Button(description="Reset", icon="undo",
                                         tooltip="clear the history and restore the initial settings")
            self.reset_button.on_click(lambda _: self.reset())
            extra = [self.reset_button]
        bar = W.HBox([self.run_button] + extra + ([self.live] if self.live is not None else []) + [self.status])
        view = [self.output if figure else self.image, self.html]
        self.widget = W.VBox(lines + [bar] + ([W.HBox(view)] if side_by_side else view)
                             + ([self.history_html] if history else []))
        if run:
            self.update()

    @staticmethod
    def _controls(rows) -> Iterable[W.Widget]:
        for r in rows:
            yield from ([r] if isinstance(r, W.Widget) else r)

    # -- what subclasses implement ------------------------------------------------------------
    def compute(self) -> str | None:
        """Recompute and redraw for the current controls; return a status note or None."""
        raise NotImplementedError

    def record(self) -> dict:
        """The run just computed as one history row: its settings and headline numbers
        (explorers built with ``history=True``)."""
        raise NotImplementedError

    # -- the shared behaviour -----------------------------------------------------------------
    def update(self, record: bool = True) -> None:
        """Run ``compute`` with the button disabled; show the time taken or the error.

        Args:
            record: add the run to the history (explorers built with ``history=True``).
        """
        self.run_button.disabled = True
        self.status.value = self.running
        t0 = time.perf_counter()
        try:
            note = self.compute()
            self.last_error = None
            self.status.value = note or f"done in {time.perf_counter() - t0:.1f} s"
            if record and self.history is not None:
                self.history.insert(0, {"run": len(self.history) + 1, **self.record()})
                self._show_history()
        except Exception as exc:  # shown, not raised: a widget callback has nowhere to raise to
            self.last_error = exc
            self.status.value = f"error: {type(exc).__name__}: {exc}"
            self.html.value = f"<pre>{html.escape(str(exc))}</pre>"
        finally:
            self.run_button.disabled = False

    def say(self, text: str) -> None:
        """Put a progress note in the status line (e.g. between two long stages)."""
        self.status.value = text

    def reset(self) -> None:
        """Clear the history and restore every control's initial value (what the Reset button does).

        Nothing is recomputed, except in explorers that redraw on every change (their view then
        shows the initial settings, not added to the history)."""
        self._resetting = True
        try:
            for control, value in self._defaults:
                control.value = value
        finally:
            self._resetting = False
        self.history.clear()
        self._show_history()
        if self._always_live:
            self.update(record=False)
        else:
            self.status.value = "history cleared, settings restored: press Run"

    def _show_history(self) -> None:
        if not self.history:
            self.history_html.value = ""
            return
        header = list(dict.fromkeys(c for row in self.history for c in row))
        self.history_html.value = ("<b>history</b> (newest first)"
                                   + self.table(header, [[row.get(c) for c in header] for row in self.history]))

    def arms_to_run(self, arm: str, compare: bool, named: str) -> list[str]:
        """The arms one run computes: every arm of ``ARMS`` when comparing, else the one chosen;
        and "named" when named channels are given (``parse_channels`` checks them here).

        Args:
            arm: the chosen arm; compare: the compare switch; named: the named-channels text.
        Returns:
            the arms, in the order shown.
        """
        arms = list(ARMS) if compare else [arm]
        if named.strip():
            parse_channels(named)
            arms.append(NAMED)
        return arms

    def _changed(self, _change=None) -> None:
        if self._resetting:
            return
        if self._always_live or (self.live is not None and self.live.value):
            self.update()
        else:
            self.status.value = "settings changed: press Run"

    def show_images(self, images, cols: int | None = None, scale: int = 4, row_labels=None, col_labels=None) -> None:
        """Draw images (N, 3, H, W) or uint8 panels (N, H, W, 3) as a grid in ``image``."""
        self.image.value = grid_png(images, cols=cols, scale=scale, row_labels=row_labels, col_labels=col_labels)

    def show_columns(self, columns: Sequence, labels: Sequence[str] | None = None, scale: int = 4) -> None:
        """Draw image sets side by side (each (n, 3, H, W)): one grid row per image, one column per set."""
        self.show_images(columns_to_panels(columns), cols=len(columns), scale=scale, col_labels=labels)

    def show_figure(self, figure) -> None:
        """Show a plotly figure in ``output`` (explorers built with ``figure=True``).

        Where plotly cannot draw inside a widget's output (Colab: ``display.static_figures()``)
        the figure is shown as a static PNG instead (``figure_png``), kept in ``static_png``."""
        from IPython.display import Image, display

        self.figure = figure
        self.static_png = figure_png(figure) if static_figures() else None
        self.output.clear_output(wait=True)
        with self.output:
            display(figure if self.static_png is None else Image(data=self.static_png, format="png"))

    @staticmethod
    def table(header: Sequence[str], rows: Iterable[Sequence], fmt: str = ".3g") -> str:
        """An HTML table; floats formatted with ``fmt``, None as "n/a", text escaped."""
        def cell(v):
            if v is None:
                return "n/a"
            if isinstance(v, float):
                return format(v, fmt)
            return html.escape(str(v))

        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"
