"""Notebook widgets.

``base.Explorer`` is the shared face of every explorer (controls, a Run button, a status
line, an image and a metrics panel; ``.widget`` to display, ``.update()`` to recompute);
one explorer module per claim (``massive``, ``critical``, ``spatial``, ``transport``) and
``chooser.ModelChooser``, the model a notebook studies. Import the module you need: this
package imports none of them, so the first cell's chooser does not load the claims.
"""
