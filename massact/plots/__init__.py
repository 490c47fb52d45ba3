"""Figures (plotly) and image grids; one module per claim, shared helpers in ``common``."""
from .common import image_grid, mask_overlay, to_uint8, png_data_uri, channel_profile, block_ratios

__all__ = ["image_grid", "mask_overlay", "to_uint8", "png_data_uri", "channel_profile", "block_ratios"]
