"""Visualisation toolkit: receptive-field overlays, the interactive viewer, the paper's figures.

* :mod:`.overlay`: a relation-map row as a heat map over the pedestrian (``relation_row``, ``overlay``;
  nearest-neighbour upsampling, one block per cell) and its self-weight (``field_stats``, ``field_label``).
* :mod:`.viewer`: :class:`ReceptiveFieldViewer`, click a point, see where SIA gathers from.
* :mod:`.figures`: Fig. 4 (context sizes), Fig. 7 (sigma sweep, S_L shapes), Fig. 8 (five body
  points + CIA channels).
* :mod:`.cia`: CIA measured: ``cia_features`` (F, E_C = C F, Y of each CIA block) and ``fig_cia`` (one
  channel per small part as F, E_C and Y).
* :mod:`.ablation`: ablations as paired differences to the baseline with 95 % CIs (Fig. 7, Tab. 4 forms).
* :mod:`.architecture`: ``plot_architecture``, the paper's Fig. 6 (the network and one IA block) drawn by code.
* :mod:`.retrieval`: the ranked retrieval grid, with receptive fields if asked.
* :mod:`.alignment`: ``part_alignment`` / ``alignment_table``, Fig. 8's claim as a number.
* :mod:`.inputs`: images -> model input + display images (the maps come from :mod:`ianet_viz.recorder`).
* :mod:`.style`: ``viz_style()`` and the shared colours (opaque light figures: legible in the
  light and the dark JupyterLab theme), and the one colour scale of relation maps: ``relation_norm``
  (weight x M on a log scale, 1 = uniform) with ``relative_weights`` and ``relation_colorbar``.

Every heat map comes with a colour bar; relation maps that are compared share one scale; the query
cell is outlined, not covered; every figure function takes a ``title`` / ``label`` (say "random init").
"""
from .alignment import (Table, alignment_table, cell_labels, mean_over_parts, part_alignment,
                        part_labels)
from .architecture import plot_architecture
from .cia import cia_features, fig_cia
from .figures import (FIG8_POINTS, appearance_by_k, fig4, fig8, height_points, part_points, plot_location_shapes,
                      plot_receptive_fields, plot_sigma_sweep, select_channels, sigma_sweep_stats)
from .field_grid import plot_field_grid
from .inputs import load_image, prepare
from .overlay import (cell_center, display_image, field_label, field_stats, outline_cell, overlay, pixel_to_cell,
                      relation_grid, relation_row, upsample)
from .retrieval import ranked, receptive_field_overlay, retrieval_grid
from .style import CMAP, paper_title, relation_colorbar, relation_norm, relative_weights, viz_style
from .viewer import ReceptiveFieldViewer

__all__ = [
    "ReceptiveFieldViewer", "plot_architecture",
    "relation_row", "relation_grid", "overlay", "upsample", "pixel_to_cell", "cell_center", "display_image",
    "field_stats", "field_label", "outline_cell",
    "fig4", "appearance_by_k", "plot_receptive_fields", "plot_field_grid",
    "plot_sigma_sweep", "sigma_sweep_stats", "plot_location_shapes",
    "cia_features", "fig_cia",
    "fig8", "part_points", "height_points", "select_channels", "FIG8_POINTS",
    "retrieval_grid", "receptive_field_overlay", "ranked",
    "part_alignment", "alignment_table", "mean_over_parts", "cell_labels", "part_labels", "Table",
    "prepare", "load_image",
    "viz_style", "paper_title", "CMAP", "relation_norm", "relative_weights", "relation_colorbar",
]
