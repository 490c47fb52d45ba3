"""Figures (plotly) and image grids; one module per claim, shared helpers in ``common``.

``grid_png`` draws image grids as PNG: widgets show its bytes, the report its data URI
(``image_data_uri``: at a display size, JPEG for large images). ``figure_png`` is a static
PNG of a figure where plotly cannot show (Colab widgets); both encode through one helper."""
from .common import (block_ratios, channel_profile, columns_to_panels, grid_png, image_data_uri, image_grid,
                     mask_overlay, png_data_uri, to_uint8)

__all__ = ["image_grid", "mask_overlay", "to_uint8", "grid_png", "png_data_uri", "image_data_uri", "columns_to_panels",
           "channel_profile", "block_ratios"]
