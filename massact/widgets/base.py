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
"""
from __future__ import annotations

import html
import time
from typing import Iterable, Sequence

import ipywidgets as W

from ..plots.common import columns_to_panels, figure_png, grid_png
from .display import static_figures


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
               run: bool = True) -> None:
        """Lay out the controls and the shared parts; optionally run once.

        Args:
            rows: the controls, one inner sequence per line (a single widget is a line too).
            live: None for no "update on change" checkbox, else its initial value.
            always_live: every control change recomputes (cheap explorers; no checkbox).
            figure: show a plotly figure in an ``Output`` (``show_figure``) instead of the image.
            side_by_side: the image (or figure) and the metrics panel on one line.
            run: call ``update()`` at once.
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
        lines = [W.HBox(list(r)) if not isinstance(r, W.Widget) else r for r in rows]
        for control in self._controls(rows):
            control.observe(self._changed, names="value")
        self.run_button.on_click(lambda _: self.update())
        bar = W.HBox([self.run_button] + ([self.live] if self.live is not None else []) + [self.status])
        view = [self.output if figure else self.image, self.html]
        self.widget = W.VBox(lines + [bar] + ([W.HBox(view)] if side_by_side else view))
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

    # -- the shared behaviour -----------------------------------------------------------------
    def update(self) -> None:
        """Run ``compute`` with the button disabled; show the time taken or the error."""
        self.run_button.disabled = True
        self.status.value = self.running
        t0 = time.perf_counter()
        try:
            note = self.compute()
            self.last_error = None
            self.status.value = note or f"done in {time.perf_counter() - t0:.1f} s"
        except Exception as exc:  # shown, not raised: a widget callback has nowhere to raise to
            self.last_error = exc
            self.status.value = f"error: {type(exc).__name__}: {exc}"
            self.html.value = f"<pre>{html.escape(str(exc))}</pre>"
        finally:
            self.run_button.disabled = False

    def say(self, text: str) -> None:
        """Put a progress note in the status line (e.g. between two long stages)."""
        self.status.value = text

    def _changed(self, _change=None) -> None:
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
