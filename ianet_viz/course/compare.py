"""Two models side by side: the model of notebooks 04-06 and the paper-literal model.

    from ianet_viz.course import course_model
    from ianet_viz.course.compare import side_by_side
    models = side_by_side(course_model())  # [the selected model, the paper-literal model]

The selected model (``IANET_MODEL`` / the notebook's ``MODEL``) stays first; the paper-literal
model (dot relation, product fusion, gates from 0: :func:`ianet_viz.course.demo.paper_model`) is the
comparison. When the selected model is itself the paper-literal one, or its weights are not here,
one model is returned and a note printed.

* :func:`map_self_weights`: the self-weight of every SIA map of a block, and of eq. 2's product of
  its ``S^A_K`` (what the paper's fusion would keep on the query cell).
* :func:`lift_summary`: each model's part lift of S against the Gaussian of the same self-weight,
  from :func:`ianet_viz.course.mechanism.mechanism_report`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping

import torch
from torch import nn

from .. import functional as Fn
from ..measures import self_weight
from ..recorder import record
from ..settings import relpath
from .notebook_model import CourseModel, course_model


def _same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def side_by_side(cm: CourseModel, other: str = "paper", verbose: bool = True) -> List[CourseModel]:
    """``[cm, the model of other]`` (default: the shipped paper-literal model), on ``cm``'s device.

    ``[cm]`` alone, with a printed note, when ``cm`` is that model already or its file is missing."""
    from . import demo

    if other == "paper" and _same_file(cm.source, demo.PAPER_WEIGHTS):
        if verbose:
            print(f"note: the selected model is the paper-literal model itself ({relpath(cm.source)}); "
                  "it is shown alone")
        return [cm]
    if other == "paper" and not demo.PAPER_WEIGHTS.is_file():
        if verbose:
            print(f"note: the paper-literal model's weights are not here ({relpath(demo.PAPER_WEIGHTS)}): only the "
                  f"{cm.name} is shown")
        return [cm]
    try:
        comparison = course_model(other, device=str(next(cm.model.parameters()).device))
    except FileNotFoundError as err:
        if verbose:
            print(f"note: no comparison model: {str(err).split('. ')[0]}. Only the {cm.name} is shown.")
        return [cm]
    if _same_file(cm.source, comparison.source):
        if verbose:
            print(f"note: the selected model is the comparison model itself ({relpath(cm.source)}); it is shown alone")
        return [cm]
    return [cm, comparison]


@torch.no_grad()
def map_self_weights(model: nn.Module, x: torch.Tensor, block: str) -> Dict[str, float]:
    """The mean self-weight ``S[i, i]`` of each SIA map of ``block`` on ``x`` (``S_A_1``, ..., ``S_A``,
    ``S``), and ``"product of the S_A_K"``: eq. 2's renormalised product of the block's ``S^A_K``
    (equal to ``S_A`` for a block that fuses by product, the paper's)."""
    ks = model.ia_blocks[block].sia.ks
    maps = record(model, x, keys=[*(f"S_A_{k}" for k in ks), "S_A", "S"])[0][block]
    product = Fn.multi_context_fusion([maps[f"S_A_{k}"] for k in ks], "prod", "renorm")
    return {**{k: self_weight(v) for k, v in maps.items()}, "product of the S_A_K": self_weight(product)}


def lift_summary(reports: Mapping[str, Mapping[str, Mapping[str, float]]]) -> List[Dict[str, object]]:
    """``reports``: ``{model name: mechanism_report(...)}`` -> one row per model and block: the
    self-weight of S, its part lift with the query cell removed (``lift_S``), the lifts of the two
    Gaussian controls, and ``"S / matched"`` = ``lift_S / lift_matched``: above 1, S puts its
    non-self weight on the query's part more selectively than a blob as concentrated as itself."""
    rows = []
    for name, report in reports.items():
        for block, r in report.items():
            if "lift_S" not in r:
                continue
            rows.append({"model": name, "block": block, "self_S": r["self_S"], "lift_S": r["lift_S"],
                         "lift_matched": r["lift_matched"], "lift_local": r["lift_local"],
                         "S / matched": r["lift_S"] / r["lift_matched"]})
    return rows
