"""ianet_viz: IANet (Hou et al., CVPR 2019) built, trained and visualised for teaching.

The equations live in :mod:`ianet_viz.functional`, the modules in :mod:`ianet_viz.modules`, the
network in :mod:`ianet_viz.model`; :class:`RelationRecorder` captures the relation maps.
"""
from . import functional
from .model import IANet, PretrainedWeightsError, build_ianet, stage_sigma
from .modules import CIA, SIA, IABlock, Tap
from .recorder import RelationRecorder, tap_feature_extractor

__all__ = [
    "functional", "SIA", "CIA", "IABlock", "Tap", "IANet", "build_ianet", "stage_sigma",
    "PretrainedWeightsError", "RelationRecorder", "tap_feature_extractor",
]
__version__ = "0.1.0"
