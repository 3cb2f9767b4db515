"""Part alignment: the Fig. 8 claim ("SIA gathers features from the same body part") as a number.

For every query cell that lies on a part p (the cell's majority label is p), take the share of its
relation mass that falls on cells of the same part:

    share_i = sum_{j : label(j) = p} S[i, j]

and compare it with chance, the part's area share ``a = |{j : label(j) = p}| / M``:

    lift_i = share_i / a          (1 = no better than a uniform map, 1 / a = all mass on the part)

Masks are per-pixel part labels at image resolution (the synthetic pedestrians' masks); they are
downsampled to the relation map's ``H x W`` cells by majority vote (``cell_labels``), so a cell
belongs to the part that covers most of its pixels. ``part_alignment`` averages over all query
cells of a part in all images (each point equally weighted).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..measures import part_area_shares
from .overlay import to_numpy

def part_labels() -> Dict[int, str]:
    """Label id -> part name of the synthetic pedestrians' masks (:data:`ianet_viz.synthetic.parts.PART_LABELS`)."""
    from ..synthetic.parts import PART_LABELS  # here, so that importing viz does not load the generator

    return dict(PART_LABELS)


def cell_bounds(n_cells: int, n_pixels: int) -> np.ndarray:
    """Pixel boundaries of ``n_cells`` equal cells over ``n_pixels`` (cell c covers [b[c], b[c+1]))."""
    return np.floor(np.arange(n_cells + 1) * n_pixels / n_cells).astype(int)


def cell_labels(masks: np.ndarray, hw: Sequence[int]) -> np.ndarray:
    """Masks ``[B, img_h, img_w]`` -> ``[B, H, W]`` labels by majority vote over each cell's pixels
    (ties go to the smaller label id)."""
    return part_area_shares(to_numpy(masks), hw).argmax(-1)


def _as_batch(S, b: int) -> np.ndarray:
    S = to_numpy(S).astype(np.float64)
    if S.ndim == 2:
        S = np.broadcast_to(S, (b,) + S.shape)
    if S.ndim != 3 or S.shape[1] != S.shape[2]:
        raise ValueError(f"S must be [B, M, M] or [M, M], got shape {S.shape}")
    if S.shape[0] != b:
        raise ValueError(f"S has {S.shape[0]} maps but there are {b} masks")
    return S


def part_alignment(
    S,
    part_masks,
    hw: Sequence[int],
    parts: Optional[Iterable[Union[int, str]]] = None,
    labels: Optional[Mapping[int, str]] = None,
    soft: bool = False,
) -> Dict[str, Dict[str, float]]:
    """Share of relation mass on the query's own part, and its lift over chance, per part.

    * ``S``: ``[B, M, M]`` relation maps (or one ``[M, M]`` map such as ``S_L``, used for every
      mask); ``part_masks``: ``[B, img_h, img_w]`` integer labels; ``hw``: the map's ``(H, W)``.
    * ``parts``: label ids or names to report (default: every label present except background 0).
    * ``labels``: id -> name (default: the synthetic generator's ``PART_LABELS``).
    * ``soft=True`` counts mass on a cell in proportion to the part's area in that cell instead of
      by the cell's majority label (query cells are majority-labelled either way).

    Returns ``{part_name: {"label", "share", "area", "lift", "n_points", "n_images"}}``, where
    share/area/lift are means over all query cells of the part (see the module docstring);
    parts with no query cell are left out.
    """
    labels = dict(part_labels() if labels is None else labels)
    names_to_id = {v: k for k, v in labels.items()}
    masks = to_numpy(part_masks)
    if masks.ndim == 2:
        masks = masks[None]
    b = masks.shape[0]
    S = _as_batch(S, b)
    h, w = int(hw[0]), int(hw[1])
    if S.shape[-1] != h * w:
        raise ValueError(f"S has M = {S.shape[-1]} positions, hw = {tuple(hw)} gives {h * w}")
    n_labels = max(int(masks.max()) + 1, max(labels) + 1 if labels else 1)
    areas = part_area_shares(to_numpy(masks), hw, n_labels).reshape(b, h * w, n_labels)  # [B, M, L]
    hard = areas.argmax(-1)  # [B, M]
    if parts is None:
        ids = sorted(int(v) for v in np.unique(hard) if v != 0)
    else:
        ids = []
        for p in parts:
            if isinstance(p, str):
                if p not in names_to_id:
                    raise ValueError(f"unknown part {p!r}; known parts: {', '.join(labels.values())}")
                ids.append(names_to_id[p])
            else:
                ids.append(int(p))
    out: Dict[str, Dict[str, float]] = {}
    for pid in ids:
        shares, lifts, area_pts = [], [], []
        n_images = 0
        for i in range(b):
            query = np.flatnonzero(hard[i] == pid)
            if query.size == 0:
                continue
            on_part = areas[i, :, pid] if soft else (hard[i] == pid).astype(np.float64)  # [M]
            area = on_part.mean()
            share = S[i][query] @ on_part  # [n_query]
            shares.append(share)
            lifts.append(share / area)
            area_pts.append(np.full(query.size, area))
            n_images += 1
        if not shares:
            continue
        shares_a, lifts_a, area_a = np.concatenate(shares), np.concatenate(lifts), np.concatenate(area_pts)
        out[labels.get(pid, str(pid))] = {
            "label": pid,
            "share": float(shares_a.mean()),
            "area": float(area_a.mean()),
            "lift": float(lifts_a.mean()),
            "n_points": int(shares_a.size),
            "n_images": n_images,
        }
    return out


class Table(list):
    """A list of row dicts that prints as a text table and renders as HTML in Jupyter."""

    def columns(self) -> List[str]:
        cols: List[str] = []
        for row in self:
            cols.extend(k for k in row if k not in cols)
        return cols

    @staticmethod
    def _fmt(v) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    def __str__(self) -> str:
        cols = self.columns()
        cells = [[self._fmt(r.get(c, "")) for c in cols] for r in self]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
        lines = ["  ".join(c.ljust(wd) for c, wd in zip(cols, widths))]
        lines.append("  ".join("-" * wd for wd in widths))
        lines += ["  ".join(v.rjust(wd) for v, wd in zip(row, widths)) for row in cells]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cols = self.columns()
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{self._fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in self)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(list(self))


def with_location(s_a, s_l, fusion: str = "renorm"):
    """``S = fuse(S_A, S_L)`` (eq. 5) for a single- or multi-context appearance map."""
    import torch

    from ianet_viz.functional import semantic_relation

    s_a = torch.as_tensor(to_numpy(s_a)).float()
    s_l = torch.as_tensor(to_numpy(s_l)).float()
    return semantic_relation(s_a, s_l, fusion=fusion)


def alignment_table(
    maps: Mapping[str, object],
    part_masks,
    hw: Sequence[int],
    variants: Optional[Sequence[str]] = None,
    parts=None,
    labels: Optional[Mapping[int, str]] = None,
    metric: str = "lift",
    soft: bool = False,
) -> Table:
    """Part alignment of several maps of one block, one row per part, one column per map.

    ``maps`` is a recorder's block dict (``rec.maps["stage3"]``: "S_A_1", ..., "S_A", "S_L", "S").
    ``variants`` names the maps to compare; ``"X+S_L"`` means ``X`` fused with the location map
    (eq. 5), so the default ``("S_A_1", "S_A_1+S_L", "S_A", "S", "S_L")`` reads: single context
    without / with location, multi-context without / with location (S is S_A+S_L), location alone.
    ``metric``: "lift" (default), "share" or "both" (two columns per map).
    """
    if metric not in ("lift", "share", "both"):
        raise ValueError(f"metric must be 'lift', 'share' or 'both', got {metric!r}")
    if variants is None:
        variants = [v for v in ("S_A_1", "S_A_1+S_L", "S_A", "S", "S_L")
                    if all(k in maps for k in v.split("+"))]
    results = {}
    for v in variants:
        keys = v.split("+")
        missing = [k for k in keys if k not in maps]
        if missing:
            raise KeyError(f"variant {v!r} needs {missing}; the maps have {sorted(maps)}")
        if len(keys) == 1:
            s = maps[keys[0]]
        elif len(keys) == 2 and keys[1] == "S_L":
            s = with_location(maps[keys[0]], maps["S_L"])
        else:
            raise ValueError(f"variant {v!r}: use a map name or 'NAME+S_L'")
        results[v] = part_alignment(s, part_masks, hw, parts=parts, labels=labels, soft=soft)
    part_names: List[str] = []
    for r in results.values():
        part_names.extend(p for p in r if p not in part_names)
    table = Table()
    for p in part_names:
        first = next(r[p] for r in results.values() if p in r)
        row = {"part": p, "area": first["area"], "points": first["n_points"]}
        for v, r in results.items():
            if p not in r:
                continue
            if metric in ("lift", "both"):
                row[f"{v} lift" if metric == "both" else v] = r[p]["lift"]
            if metric in ("share", "both"):
                row[f"{v} share" if metric == "both" else v] = r[p]["share"]
        table.append(row)
    return table


def mean_over_parts(table: Table, columns: Sequence[str]) -> Dict[str, float]:
    """Each column of an :func:`alignment_table` averaged over its parts, weighted by query points.

    Weighting by ``points`` (the query cells of each part) gives the mean lift of one query cell
    drawn at random from all parts, so a small part with few cells does not count as much as the
    torso. (``course.mechanism.part_lift`` is the unweighted mean over parts instead.)
    """
    rows = list(table)
    if not rows:
        raise ValueError("mean_over_parts got an empty table: no query cell fell on any part")
    missing = [c for c in columns if c not in table.columns()]
    if missing:
        raise KeyError(f"columns {missing} are not in the table; it has {table.columns()}")
    weights = np.array([r["points"] for r in rows], dtype=np.float64)
    return {c: float(np.average([r[c] for r in rows], weights=weights)) for c in columns}
