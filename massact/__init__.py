"""massact: find, measure and edit massive activations in diffusion transformers.

    import massact
    model = massact.load("toy")
    gen = massact.generate(model, ["a large red circle at the left on a black background"], seeds=0, capture=True)
    gen.stats.ratio_table()
"""
from .adapters import ADAPTERS, BlockList, enumerate_blocks, register, supported, supported_classes
from .calibration import Calibration, calibrate
from .channel_stats import ChannelStats, SaturationWarning
from .generation import Generation, generate
from .hooks import Tracer
from .loading import load
from .models import MassactModel, PipelineModel
from .ranking import agreement, channel_set
from .selection import Selection
from .specs import BatchLayout, CaptureSpec, EditSpec

__version__ = "0.1.0"
__all__ = ["load", "generate", "Generation", "EditSpec", "CaptureSpec", "ChannelStats", "Tracer", "BatchLayout",
           "channel_set", "agreement", "supported", "supported_classes", "register", "BlockList", "enumerate_blocks", "ADAPTERS", "MassactModel",
           "PipelineModel", "calibrate", "Calibration", "Selection", "SaturationWarning"]
