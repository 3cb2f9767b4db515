"""The viewer's panels: one per SIA map (eq. 1-5), their titles, and the views that group them."""
from __future__ import annotations

from ..recorder import SIA_KEYS

PANELS = SIA_KEYS  # ("S_A_1", "S_A_2", "S_A_3", "S_A", "S_L", "S")
PANEL_TITLES = {
    "S_A_1": "$S^A_1$  (K=1)",
    "S_A_2": "$S^A_2$  (K=2)",
    "S_A_3": "$S^A_3$  (K=3)",
    "S_A": "$S^A$  multi-context",
    "S_L": "$S^L$  location",
    "S": "$S$  semantic",
}
#: the same titles in HTML, for the browser front-end (field_viewer.js)
PANEL_HTML_TITLES = {
    "S_A_1": "S<sup>A</sup><sub>1</sub> (K=1)",
    "S_A_2": "S<sup>A</sup><sub>2</sub> (K=2)",
    "S_A_3": "S<sup>A</sup><sub>3</sub> (K=3)",
    "S_A": "S<sup>A</sup> multi-context",
    "S_L": "S<sup>L</sup> location",
    "S": "S semantic",
}
#: view name -> (button label, panels shown)
VIEWS = {
    "all": ("all maps", PANELS),
    "fig4": ("Fig. 4: single vs multi-context", ("S_A_1", "S_A_2", "S_A_3", "S_A")),
    "als": ("appearance | location | semantic", ("S_A", "S_L", "S")),
}
#: short button labels for the view selector
VIEW_BUTTONS = {"all": "all maps", "fig4": "Fig. 4: single vs multi-context", "als": "S^A | S^L | S"}
