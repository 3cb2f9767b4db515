"""Is the mechanism working? Per IA block: do the gates open, does SIA gather, does it gather a part.

Four numbers per block, each a question a student would ask of Fig. 8:

* ``sia_gate`` / ``cia_gate``: mean ``|gamma|`` of the block's BatchNorm, the gate of eq. 9
  (``Y = BN(E) + F``, zero at initialisation).
* ``sia_ratio`` / ``cia_ratio``: median over images of ``||BN(E)|| / ||F||``, how much the block
  adds to its input. A block with ratio 0.002 computes its input: the network is its baseline.
* ``self_S``, ``self_S_A``, ``self_S_A_<K>``: the mean weight a position keeps for itself in each
  map (1 = the receptive field is the query cell, ``E_S = F``).
* ``cells_S``, ``own_S``, ``background_S``, ``other_S``: the size of S's fields (median effective
  cells, ``1 / sum_j S_ij^2``) and where their weight goes with the query cell removed: own part,
  background, other parts (:func:`part_following`); ``own_gauss``, ``background_gauss``: the same
  shares for a Gaussian of the same effective cells. These carry the claim "the fields follow
  parts": a field must be as large as the Gaussian and hold more of its weight on the query's part.
* ``lift_S``: the part-alignment lift of ``S`` with each query's own cell removed and the row
  renormalised (:func:`ianet_viz.viz.alignment.part_alignment`), so that a map that only keeps
  its own cell cannot score; ``lift_local``: the same for a fixed local Gaussian (sigma 1 cell),
  the control that locality alone scores; ``lift_matched``: a Gaussian as concentrated as ``S``
  (the same self-weight), so that a sharper map cannot win by being more local. A random-init network is the other control: run the
  report on the model before training (``train(..., monitor=...)`` does at epoch 0).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .. import functional as Fn
from ..measures import effective_cells, field_on_part, self_weight
from ..recorder import RelationRecorder
from ..viz.alignment import part_alignment

#: sigma (cells) of the local Gaussian control: a field that is "the neighbourhood", nothing more
LOCAL_SIGMA = (1.0, 1.0)


def held_out_people(root, size: Sequence[int], n: int = 32, split: str = "query") -> Tuple[torch.Tensor, np.ndarray]:
    """``(x [n, 3, H, W], masks [n, H, W])``: the first ``n`` synthetic people of ``split`` ("query" or
    "gallery": test identities, never trained on), sorted by identity, with their part masks, at the
    model input ``size``."""
    from PIL import Image

    from ..reid import Market1501
    from ..viz.inputs import prepare

    root = Path(root)
    items = sorted(getattr(Market1501(root), split))[:n]
    mask_dir = root / "masks" / (Path(items[0][0]).parent.name if items else split)
    if not mask_dir.is_dir():
        raise FileNotFoundError(f"no part masks in {mask_dir}: generate the data with "
                                "python -m ianet_viz.synthetic (it writes masks/<split>/)")
    masks = np.stack([np.asarray(Image.open(mask_dir / (Path(p).stem + ".png")).resize((size[1], size[0]), Image.NEAREST))
                      for p, _, _ in items])
    x, _ = prepare([p for p, _, _ in items], size)
    return x, masks


def synthetic_people_root(size: Sequence[int]) -> Path:
    """Synthetic pedestrians with part masks at the input ``size``: the demo model's data
    (``TrainConfig``'s synthetic defaults, 100 identities x 12 images, seed 0), generated once under
    ``DATA_DIR``. The stand-in for a run whose own data has no part masks (real photographs)."""
    from ..train import TrainConfig, load_dataset

    cfg = TrainConfig(dataset="synthetic", height=int(size[0]), width=int(size[1]), pretrained=None)
    return Path(load_dataset(cfg).root)


def without_self(p: torch.Tensor) -> torch.Tensor:
    """The maps with each query's own cell removed and the rows renormalised."""
    s = p.double().clone()
    s.diagonal(dim1=-2, dim2=-1).zero_()
    return s / s.sum(-1, keepdim=True).clamp_min(1e-300)


def part_lift(p: torch.Tensor, masks: np.ndarray, hw: Sequence[int]) -> float:
    """Mean over parts of the part-alignment lift of ``p`` with the query cell removed."""
    res = part_alignment(without_self(p), masks, hw)
    return float(np.mean([r["lift"] for r in res.values()])) if res else float("nan")


def _gaussian_factors(h: int, w: int, sigma: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """The isotropic location relation (eq. 3-4) of one ``sigma`` as its 1-D factors ``(py [H, H], px [W, W])``:
    a softmax of a sum of a y and an x term is a product, so row ``y * W + x`` of the map is
    ``py[y] (x) px[x]``. Its size and self-weight then come without building the M x M map, and the
    bisections below do not fill ``location_relation``'s cache (which the forward pass reads) with
    one map per step."""
    def factor(n: int) -> torch.Tensor:
        d = torch.arange(n, dtype=torch.float64)
        return torch.softmax(-(d[:, None] - d[None, :]) ** 2 / (2 * sigma * sigma), dim=-1)

    return factor(h), factor(w)


def _gaussian_map(h: int, w: int, sigma: float) -> torch.Tensor:
    py, px = _gaussian_factors(h, w, sigma)
    return Fn.without_subnormals(torch.kron(py, px))  # [M, M], rows indexed y * W + x, as location_relation


def _bisect_sigma(rises_with_sigma, target: float, steps: int = 40) -> float:
    """The sigma (cells) at which ``rises_with_sigma(sigma)``, increasing in sigma, reaches ``target``."""
    lo, hi = 1e-2, 1e3
    for _ in range(steps):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if rises_with_sigma(mid) < target else (lo, mid)
    return (lo * hi) ** 0.5


def matched_gaussian(hw: Sequence[int], target_self: float, steps: int = 40) -> torch.Tensor:
    """The isotropic location relation (eq. 3-4) whose mean self-weight is ``target_self`` (bisection
    on sigma in cells): locality alone, at the concentration of the map it controls for."""
    h, w = int(hw[0]), int(hw[1])

    def minus_self(sig):  # the mean of py[y, y] px[x, x] over all cells; it falls as sigma grows
        py, px = _gaussian_factors(h, w, sig)
        return -float(py.diagonal().mean() * px.diagonal().mean())

    return _gaussian_map(h, w, _bisect_sigma(minus_self, -target_self, steps))


def mass_split(p: torch.Tensor, masks: np.ndarray, hw: Sequence[int]) -> Dict[str, float]:
    """Where each part cell's weight on *other* cells goes (query cell removed, rows renormalised):
    the mean share on background, on the cell's own part and on other parts."""
    from ..viz.alignment import cell_labels

    lab = torch.from_numpy(cell_labels(masks, hw).reshape(len(masks), -1))  # [B, M] majority label per cell
    s = without_self(p)
    on_person = lab != 0
    bg = (s * (lab == 0)[:, None, :]).sum(-1)[on_person]
    own = (s * (lab[:, :, None] == lab[:, None, :])).sum(-1)[on_person]
    return {"background": float(bg.mean()), "own part": float(own.mean()), "other parts": float((1 - bg - own).mean())}


def _person_cells(masks: np.ndarray, hw: Sequence[int]) -> torch.Tensor:
    from ..viz.alignment import cell_labels

    return torch.from_numpy(cell_labels(masks, hw).reshape(len(masks), -1)) != 0


def size_matched_gaussian(hw: Sequence[int], target_cells: float, person: torch.Tensor, steps: int = 40) -> torch.Tensor:
    """The isotropic location relation (eq. 3-4) whose median effective cells over the ``person``
    query cells (``[B, M]`` bool) is ``target_cells``: locality alone, at the size of the field it
    controls for (bisection on sigma in cells)."""
    h, w = int(hw[0]), int(hw[1])

    def cells(sig):  # 1 / sum_j S_ij^2 of row y * W + x is 1 / (sum py[y]^2 * sum px[x]^2)
        py, px = _gaussian_factors(h, w, sig)
        per_cell = 1.0 / torch.outer(py.pow(2).sum(-1), px.pow(2).sum(-1)).reshape(-1)
        return float(per_cell.expand(person.shape)[person].median())

    return _gaussian_map(h, w, _bisect_sigma(cells, target_cells, steps))


def part_following(p: torch.Tensor, masks: np.ndarray, hw: Sequence[int]) -> Dict[str, float]:
    """How big a field is and where its weight goes, read together, over the query cells on the
    person: the median effective cells of ``p`` (:func:`effective_cells`), the shares of
    :func:`mass_split` (query cell removed), and the same shares for a Gaussian of the same effective
    cells (:func:`size_matched_gaussian`), so that a field cannot look part-aware by being small."""
    person = _person_cells(masks, hw)
    cells = float(effective_cells(p).expand(person.shape)[person].median())
    out = {"cells": cells, **mass_split(p, masks, hw)}
    gauss = size_matched_gaussian(hw, cells, person)
    g = mass_split(gauss.expand(len(masks), -1, -1), masks, hw)
    out.update({"own part (gaussian)": g["own part"], "background (gaussian)": g["background"]})
    return out


def follows_its_part(row: torch.Tensor, own: torch.Tensor, query: int, share: float = 0.5, cells: float = 3.0) -> bool:
    """Does one field follow its part? With the query cell removed, at least ``share`` of its weight
    lies on the query's own part and it spreads over at least ``cells`` effective cells: a part, not a
    spot and not the query cell (:func:`field_on_part`)."""
    return _follows(*field_on_part(row, own, query), share, cells)


def _follows(got_share: float, got_cells: float, share: float, cells: float) -> bool:
    return got_share >= share and got_cells >= cells


def fields_on_part_text(fields: Sequence[Dict], share: float = 0.5, cells: float = 3.0) -> str:
    """One line for under Fig. 8: how many of its fields (``fig8(..., return_info=True)``'s "fields")
    follow their part (:func:`follows_its_part`), and which do not."""
    ok = [f for f in fields if _follows(f["own part"], f["cells"], share, cells)]
    missed = [f"{f['point']} of person {f['image'] + 1} ({f['own part']:.2f} on its part, {f['cells']:.1f} cells)"
              for f in fields if f not in ok]
    text = (f"{len(ok)} of {len(fields)} fields hold >= {share} of their weight (query cell removed) on their own "
            f"part, spread over >= {cells:g} effective cells")
    return text + (".\nThe others: " + "; ".join(missed) + "." if missed else ".")


def _residual_ratio(module: nn.Module, f: torch.Tensor) -> float:
    """Median over images of ``||BN(E)|| / ||F||`` for an SIA or CIA module and its input ``f``."""
    r = module.residual(f)
    num = r.flatten(1).norm(dim=1)
    den = f.flatten(1).norm(dim=1).clamp_min(1e-12)
    return float((num / den).median())


@torch.no_grad()
def mechanism_report(model: nn.Module, x: torch.Tensor, masks: np.ndarray,
                     local_sigma=LOCAL_SIGMA) -> Dict[str, Dict[str, float]]:
    """``{block: {metric: value}}`` for every IA block of ``model`` on images ``x`` with part ``masks``
    (see the module docstring for the metrics). The model is put in eval mode and left there."""
    blocks = getattr(model, "ia_blocks", None)
    if not blocks:
        raise ValueError("the model has no IA blocks (ia_stages=()): nothing to report")
    model.eval()
    device = next(model.parameters()).device
    with RelationRecorder(model, inputs=True) as rec:
        model(x.to(device))
    out: Dict[str, Dict[str, float]] = {}
    for name, blk in blocks.items():
        row: Dict[str, float] = {}
        for part, inputs in (("sia", rec.inputs), ("cia", rec.cia_inputs)):
            m = getattr(blk, part, None)
            if m is None:
                continue
            row[f"{part}_gate"] = float(m.bn.weight.abs().mean())
            if name in inputs:
                row[f"{part}_ratio"] = _residual_ratio(m, inputs[name].to(device))
        maps = rec.maps.get(name, {})
        if "S" in maps:
            hw = rec.shapes[name]
            for key, p in maps.items():
                if key.startswith("S_A") or key == "S":
                    row[f"self_{key}"] = self_weight(p)
            follow = part_following(maps["S"], masks, hw)
            row.update({"cells_S": follow["cells"], "own_S": follow["own part"], "background_S": follow["background"],
                        "other_S": follow["other parts"], "own_gauss": follow["own part (gaussian)"],
                        "background_gauss": follow["background (gaussian)"]})
            row["lift_S"] = part_lift(maps["S"], masks, hw)
            local = Fn.location_relation(hw[0], hw[1], local_sigma, dtype=torch.float64)
            row["lift_local"] = part_lift(local.expand(len(masks), -1, -1), masks, hw)
            matched = matched_gaussian(hw, row["self_S"])
            row["lift_matched"] = part_lift(matched.expand(len(masks), -1, -1), masks, hw)
            if blk.sia.log_scale is not None:
                row["sia_temperature"] = float(blk.sia.log_scale.exp())
        out[name] = row
    return out


def flat(report: Dict[str, Dict[str, float]], prefix: str = "mech") -> Dict[str, float]:
    """``{"mech/<block>/<metric>": value}``: a report as one flat record (for ``log.jsonl``)."""
    return {f"{prefix}/{b}/{k}": v for b, row in report.items() for k, v in row.items()}


def monitor(root, size: Sequence[int], n: int = 32):
    """A ``train(..., monitor=...)`` callable: the mechanism report on ``n`` held-out people each epoch.

    The people are read at the first call, once training has generated the data if need be."""
    cache = {}

    def run(model: nn.Module, epoch: int) -> Optional[Dict[str, float]]:
        if not cache:
            cache["x"], cache["masks"] = held_out_people(root, size, n)
        x, masks = cache["x"], cache["masks"]
        was_training = model.training
        try:
            return flat(mechanism_report(model, x, masks))
        finally:
            model.train(was_training)

    return run


@torch.no_grad()
def prior_sweep(model: nn.Module, x: torch.Tensor, masks: np.ndarray, block: str = "stage2",
                sigmas: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0)) -> List[Dict[str, float]]:
    """Does appearance add part information on top of locality? The block's trained appearance
    relation S^A fused (eq. 5) with the location prior S^L of every ``sigma1`` (``sigma2 = 2 sigma1``),
    without retraining: per sigma, the self-weight and part lift of that S, the lift of the prior
    alone and of the local Gaussian control. A lift of S above its prior's means S^A moves weight
    onto the query's part; the self-weight says what that costs in gathering."""
    model.eval()
    with RelationRecorder(model, keys=("S_A",)) as rec:
        model(x.to(next(model.parameters()).device))
    s_a, hw = rec.maps[block]["S_A"].double().cpu(), rec.shapes[block]
    local = Fn.location_relation(hw[0], hw[1], LOCAL_SIGMA, dtype=torch.float64).expand(len(masks), -1, -1)
    lift_local = part_lift(local, masks, hw)  # the control does not depend on sigma
    out = []
    for s1 in sigmas:
        prior = Fn.location_relation(hw[0], hw[1], (s1, 2 * s1), dtype=torch.float64)
        s = Fn.semantic_relation(s_a, prior)
        out.append({"sigma1": float(s1), "self_S": self_weight(s), "lift_S": part_lift(s, masks, hw),
                    "lift_prior": part_lift(prior.expand(len(masks), -1, -1), masks, hw),
                    "lift_local": lift_local})
    return out
