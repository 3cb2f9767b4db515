"""Scale vs entropy: the measurement behind the default logit ``scale`` of SIA and CIA.

The paper's formulas have no scale (``scale = 1``); the authors' code divides SIA logits by
``sqrt(C)``; ``ianet_viz.functional`` defaults to ``1/(sqrt(C) K^2)`` for SIA (the mean patch dot
product of context size K, scaled by ``1/sqrt(C)``) and ``1/sqrt(M)`` for CIA.
This script measures what the scale does to the maps on features of real pedestrians: the bundled
crops cut from vtest.avi (``ianet_viz.reid.bundled_crops()``), 256x128, through a ResNet-50 with
last stride 1. For every scale it reports, per map, the normalised row entropy
``H(row) / log(n)`` (1 = uniform, 0 = one-hot; mean and 10th percentile over rows and images) and
the peak ``max_j S[i, j] * n`` (how many times the uniform weight the strongest entry gets) and
the self weight ``S[i, i]`` (how much of its own output a position or channel keeps).

Maps: S_A_1 (eq. 1, K = 1) and the fused S_A (K = 1, 2, 3, product) and S (with the location
prior) at stages 2 and 3 (the IA block inputs), and CIA's C (eq. 7) at both stages.

Weights: no ImageNet weights can be downloaded here, so the default is **random initialisation**
(torchvision's Kaiming init) with BatchNorm using the batch statistics of the crops (a random net
in eval mode would not normalise at all). ``--checkpoint PATH`` loads trained backbone weights
(e.g. an ImageNet ``resnet50-*.pth`` or a checkpoint of ``ianet_viz.train``; ``--backbone
resnet18`` for a briefly trained ResNet-18) and then runs in eval mode.

    python -m benchmarks.scale_entropy [--quick] [--write] [--backbone resnet50] [--checkpoint PATH]
"""
from __future__ import annotations

from pathlib import Path

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from benchmarks.common import command_line, describe_device, format_table, make_parser, section, update_results

#: scale multipliers of 1/sqrt(n) (n = C for SIA, M for CIA), plus the paper's literal 1.0
MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)


def crops(n: int, size=(256, 128)):
    """``(x [N, 3, H, W], source)``: bundled real crops, else synthetic pedestrians (said so)."""
    from ianet_viz.viz.inputs import prepare

    try:
        from ianet_viz.reid import bundled_crops

        ds = bundled_crops()
        items = (list(ds.query) + list(ds.gallery) + list(ds.train))
        # spread over identities: take every k-th
        step = max(1, len(items) // n)
        items = items[::step][:n]
        if items:
            return prepare(items, size)[0], f"{len(items)} real crops (the bundled vtest.avi crops)"
    except Exception as err:  # data not there yet
        print(f"bundled crops unavailable ({type(err).__name__}: {err}); using synthetic pedestrians")
    from ianet_viz.synthetic import render_person, sample_identity

    rng = np.random.default_rng(0)
    imgs = [render_person(sample_identity(rng), rng=rng, height=size[0], width=size[1])[0] for _ in range(n)]
    return prepare(imgs, size)[0], f"{n} synthetic pedestrians (bundled crops missing)"


def _train_checkpoint(checkpoint: Optional[str]):
    """The model of an ``ianet_viz.train`` run (folder or checkpoint.pt), else None."""
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    ckpt = path / "checkpoint.pt" if path.is_dir() else path
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception:
        return None
    if not (isinstance(state, dict) and "config" in state and "model" in state):
        return None
    from ianet_viz.train import load_model

    return load_model(ckpt), state["config"]


def stage_features(x: torch.Tensor, backbone: str, checkpoint: Optional[str]) -> Dict[int, torch.Tensor]:
    """Inputs of the IA blocks at stages 2 and 3 for the crops ``x``.

    A trained IANet run (``--checkpoint runs/NAME``): the inputs its IA blocks saw (the stage-3
    input comes after the trained stage-2 block). Otherwise the outputs of stages 2 and 3 of a
    plain backbone (random init, or backbone weights from a file).
    """
    from torchvision.models.feature_extraction import create_feature_extractor

    from ianet_viz import build_ianet

    trained = _train_checkpoint(checkpoint)
    if trained is not None:
        from ianet_viz.recorder import sia_blocks, sia_inputs

        try:
            names = [n for n in sia_blocks(trained[0]) if n in ("stage2", "stage3")]
        except ValueError:  # a baseline run: no SIA to read inputs from
            names = []
        if names:
            return {int(n[5]): f for n, f in sia_inputs(trained[0], x, names).items()}
    torch.manual_seed(0)
    model = build_ianet(backbone, num_classes=10, ia_stages=(), pretrained=checkpoint)
    model.train(checkpoint is None)  # random init: BN on batch statistics; trained: eval mode
    # the outputs of stages 2 and 3 (torchvision's feature extractor: no hand-made hooks)
    extractor = create_feature_extractor(model.backbone, {"layer2": "2", "layer3": "3"}).train(model.training)
    with torch.no_grad():
        return {int(k): v.detach() for k, v in extractor(x).items()}


def entropy_stats(p: torch.Tensor) -> Dict[str, float]:
    """Normalised row entropy (mean, p10) and mean peak-over-uniform of row-stochastic ``p [.., n]``."""
    from ianet_viz.measures import row_entropy, self_weight

    p = p.double()
    n = p.shape[-1]
    h = row_entropy(p).flatten()
    peak = p.amax(-1).flatten() * n
    out = {"H mean": float(h.mean()), "H p10": float(torch.quantile(h, 0.1)), "peak x uniform": float(peak.mean())}
    if p.shape[-1] == p.shape[-2]:  # a square relation: how much each row keeps for itself
        out["self weight"] = self_weight(p)
    return out


def measure(feats: Dict[int, torch.Tensor], multipliers=MULTIPLIERS, with_fused: bool = True) -> List[Dict]:
    from ianet_viz import functional as Fn
    from ianet_viz.model import stage_sigma

    rows = []
    for stage, f in sorted(feats.items()):
        b, c, h, w = f.shape
        m = h * w
        # None = the package default (for SIA: 1/(sqrt(C) K^2) per context size K; a number is
        # applied to every K alike)
        sia_scales = [("default (None)", None), ("1 (paper)", 1.0)] + [(f"{k:g}/sqrt(C)", k / math.sqrt(c)) for k in multipliers]
        cia_scales = [("default (None)", None), ("1 (paper)", 1.0)] + [(f"{k:g}/sqrt(M)", k / math.sqrt(m)) for k in multipliers]
        for label, s in sia_scales:
            if with_fused:
                _, maps = Fn.sia(f, ks=(1, 2, 3), sigma=stage_sigma(stage), sia_scale=s, need_maps=True)
                todo = [("S_A_1", maps["S_A_1"]), ("S_A_3", maps["S_A_3"]), ("S_A (K=1,2,3)", maps["S_A"]),
                        ("S (with S_L)", maps["S"])]
            else:
                todo = [("S_A_1", Fn.appearance_relation(f, 1, scale=s))]
            for name, mp in todo:
                rows.append({"stage": stage, "map": name, "scale": label, "value": "" if s is None else s, "n": m,
                             **entropy_stats(mp)})
        for label, s in cia_scales:
            rows.append({"stage": stage, "map": "C (CIA)", "scale": label, "value": "" if s is None else s, "n": c,
                         **entropy_stats(Fn.channel_relation(f, scale=s))})
    return rows


def feature_stats(feats: Dict[int, torch.Tensor]) -> List[Dict]:
    """Typical magnitudes: mean squared norm of a position vector (C entries) and of a channel map (M)."""
    out = []
    for s, f in sorted(feats.items()):
        b, c, h, w = f.shape
        x = f.flatten(2)
        out.append({"stage": s, "shape": f"{c}x{h}x{w}", "|f_i|^2/C (position)": float((x ** 2).sum(1).mean() / c),
                    "|f_m|^2/M (channel)": float((x ** 2).sum(2).mean() / (h * w)),
                    "frac zero": float((x == 0).float().mean())})
    return out


def run(quick: bool = False, backbone: Optional[str] = None, checkpoint: Optional[str] = None, n: Optional[int] = None,
        size=None) -> Dict:
    trained = _train_checkpoint(checkpoint)
    if trained is not None:  # the run's own backbone and input size
        backbone = trained[1]["backbone"]
        size = size or (trained[1]["height"], trained[1]["width"])
    backbone = backbone or ("resnet18" if quick else "resnet50")
    n = n or (4 if quick else 32)
    size = tuple(size) if size else ((64, 32) if quick else (256, 128))
    x, source = crops(n, size)
    feats = stage_features(x, backbone, checkpoint)
    rows = measure(feats, multipliers=(1.0,) if quick else MULTIPLIERS, with_fused=not quick)
    weights = checkpoint or "random init (no ImageNet weights offline), BN on batch statistics"
    return {"rows": rows, "features": feature_stats(feats), "source": source, "backbone": backbone, "weights": weights,
            "size": size}


def verdict(rows: List[Dict]) -> str:
    """One paragraph: what the literal scale and the default do at each stage."""
    lines = []
    for stage in sorted({r["stage"] for r in rows}):
        for mp in ("S_A_1", "S_A_3", "S (with S_L)", "C (CIA)"):
            lit = [r for r in rows if r["stage"] == stage and r["map"] == mp and r["scale"] == "1 (paper)"]
            dfl = [r for r in rows if r["stage"] == stage and r["map"] == mp and r["scale"] == "default (None)"]
            if lit and dfl:
                lines.append(f"stage {stage} {mp}: scale 1 -> H {lit[0]['H mean']:.3f}, self weight "
                             f"{lit[0].get('self weight', float('nan')):.2f}; default -> H {dfl[0]['H mean']:.3f}, "
                             f"self weight {dfl[0].get('self weight', float('nan')):.2f}")
    return "\n".join(lines)


def report(out: Dict) -> str:
    cols = ["stage", "map", "scale", "value", "H mean", "H p10", "peak x uniform", "self weight"]
    return "\n".join([
        f"{out['backbone']} ({out['weights']}), {out['source']}, input {out['size'][0]}x{out['size'][1]}",
        format_table(out["features"]), "",
        "normalised row entropy H/log(n) (1 = uniform, 0 = one-hot); peak = max_j S[i,j] * n:",
        format_table(out["rows"], cols), "", verdict(out["rows"]),
    ])


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--backbone", default=None, help="resnet50 (default) or resnet18 ...")
    p.add_argument("--checkpoint", default=None, help="trained weights (path); default random init")
    p.add_argument("--images", type=int, default=None, help="number of crops (default 32)")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"), help="input size (default 256 128)")
    p.add_argument("--section", default=None, help="RESULTS.md section name (default scale_entropy[_<backbone>])")
    args = p.parse_args(argv)
    out = run(quick=args.quick, backbone=args.backbone, checkpoint=args.checkpoint, n=args.images, size=args.size)
    text = report(out)
    print(text)
    if args.write:
        name = args.section or ("scale_entropy" if args.checkpoint is None else f"scale_entropy_{out['backbone']}_trained")
        update_results(name, section(
            f"scale_entropy: logit scale vs map entropy ({out['backbone']}, "
            f"{'random init' if args.checkpoint is None else 'trained'})",
            command_line("benchmarks.scale_entropy", argv), describe_device(), "```\n" + text + "\n```",
            out.get("notes", "")))
    return out


if __name__ == "__main__":
    main()
