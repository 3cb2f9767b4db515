"""Pretrained features (issue 17): does a backbone pretrained on a large synthetic corpus know body
parts, and do the IA blocks fine-tuned on top of it gather them?

Three parts, each on people that no model here was trained on (synthetic seed 4242,
:func:`ianet_viz.course.probe.held_out_root`):

* **pretraining**: wall time and last-epoch loss of ``python -m ianet_viz.course.pretrain`` (read
  from its run folder's ``log.jsonl``), with the machine.
* **probe**: the linear part probe (:mod:`ianet_viz.course.probe`) at stages 2 and 3 for a
  random-init ResNet-18, the previous demo backbone (``--old FILE``, optional), the pretrained
  backbone and the two shipped models, beside the position-only control.
* **mechanism**: per shipped model and IA block, what each branch adds (||BN(E)||/||F||), the
  self-weight of S and S's part lift (query cell removed) against a Gaussian of the same
  self-weight and a local Gaussian (:func:`ianet_viz.course.mechanism.mechanism_report`).
* **accuracy**: the paired mAP differences of the ``pt:`` runs of ``benchmarks.mechanism``
  (``results/mechanism.csv``), each against ``pt:baseline`` of the same seed.

    python -m benchmarks.pretraining [--old FILE] [--n 96] [--write]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from benchmarks.common import (
    RESULTS_DIR, command_line, describe_device, format_table, read_csv, section, update_results, write_csv,
)

#: the done-when thresholds of issue 22 (stage 2 of the shipped demo model, held-out people)
MIN_ADDS, MIN_CELLS, MIN_OWN, MIN_OWN_RATIO, MAX_BACKGROUND = 0.05, 6.0, 0.6, 1.5, 0.15


def pretraining_rows(run: Path) -> List[Dict]:
    from ianet_viz.train.engine import read_log

    log = read_log(run)
    if not log:
        return []
    return [{"epochs": len(log), "wall min": round(sum(r.get("time", 0.0) for r in log) / 60, 1),
             "s/epoch": round(sum(r.get("time", 0.0) for r in log) / len(log)),
             "last loss": round(log[-1]["loss"], 3), "last train acc": round(log[-1]["acc"], 3),
             "corpus mAP %": round(100 * log[-1]["mAP"], 1) if "mAP" in log[-1] else ""}]


def models(old: Optional[str], old_backbone: Optional[str]) -> Dict[str, torch.nn.Module]:
    from ianet_viz import build_ianet
    from ianet_viz.course.demo import PAPER_WEIGHTS, WEIGHTS, load_shipped
    from ianet_viz.course.pretrain import pretrained_backbone

    torch.manual_seed(0)
    out = {"random init": build_ianet("resnet18", num_classes=50, ia_stages=())}
    if old_backbone:
        out["identity-pretrained"] = build_ianet("resnet18", num_classes=50, ia_stages=(), pretrained=old_backbone)
    out["part pretext (shipped backbone)"] = build_ianet("resnet18", num_classes=50, ia_stages=(),
                                                         pretrained=str(pretrained_backbone()))
    if old:
        out["previous demo"] = load_shipped(path=old)
    for name, path in (("shipped demo", WEIGHTS), ("shipped paper-literal", PAPER_WEIGHTS)):
        if Path(path).is_file():
            out[name] = load_shipped(path=path)
    return {k: m.eval() for k, m in out.items()}


def dose_rows(nets: Dict[str, torch.nn.Module], probe_data, held) -> List[Dict]:
    """The dose-response table (:mod:`ianet_viz.course.dose`): fresh demo blocks on every backbone,
    and the fine-tuned models as they ship."""
    from ianet_viz.course.dose import dose_response_row, with_fresh_blocks

    rows = []
    for name, model in nets.items():
        fine_tuned = bool(getattr(model, "ia_blocks", None))
        net = model if fine_tuned else with_fresh_blocks(model.backbone)
        rows.append(dose_response_row(name, "fine-tuned" if fine_tuned else "fresh demo", net, probe_data, held))
    return rows


def probe_rows(nets: Dict[str, torch.nn.Module], x, masks, n_train: int) -> List[Dict]:
    from ianet_viz.course.probe import part_probe, stage_features

    rows = []
    for name, model in nets.items():
        feats = stage_features(model, x)
        row = {"model": name}
        for stage in (2, 3):
            res = part_probe(feats[stage], masks, n_train)
            row[f"st{stage} features"] = f"{res['features']:.3f}"
            row[f"st{stage} feat+pos"] = f"{res['features+position']:.3f}"
            row[f"st{stage} position"] = f"{res['position']:.3f}"
        rows.append(row)
    return rows


def mechanism_rows(nets: Dict[str, torch.nn.Module], x, masks) -> List[Dict]:
    from ianet_viz.course.mechanism import mechanism_report

    rows = []
    for name, model in nets.items():
        if not getattr(model, "ia_blocks", None):
            continue
        rep = mechanism_report(model, x, masks)
        for block, r in rep.items():
            adds = min(r.get("sia_ratio", float("nan")), r.get("cia_ratio", float("nan")))
            ok = (adds >= MIN_ADDS and r["cells_S"] >= MIN_CELLS and r["own_S"] >= MIN_OWN
                  and r["own_S"] >= MIN_OWN_RATIO * r["own_gauss"] and r["background_S"] <= MAX_BACKGROUND)
            rows.append({"model": name, "block": block, "SIA adds": f"{r.get('sia_ratio', float('nan')):.3f}",
                         "CIA adds": f"{r.get('cia_ratio', float('nan')):.3f}", "cells S": f"{r['cells_S']:.1f}",
                         "own part": f"{r['own_S']:.2f}", "own part, same-size Gaussian": f"{r['own_gauss']:.2f}",
                         "background": f"{r['background_S']:.2f}", "background, Gaussian": f"{r['background_gauss']:.2f}",
                         "other parts": f"{r['other_S']:.2f}", "self S": f"{r['self_S']:.3f}",
                         "lift S / self-matched": f"{r['lift_S'] / r['lift_matched']:.2f}",
                         "meets issue 22": "yes" if ok else "no"})
    return rows


def accuracy_rows(csv: Path) -> List[Dict]:
    from benchmarks.mechanism import summarise

    rows = [r for r in read_csv(csv) if r["config"].startswith("pt:")]
    if not rows:
        return []
    return [{k: v for k, v in r.items() if k in ("config", "seeds", "mAP %") or k.startswith("Δ")}
            for r in summarise(rows, "pt:baseline")]


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[Dict]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", default=None, help="the previous demo weights file, for the probe (optional)")
    p.add_argument("--old-backbone", default=None,
                   help="the identity-pretrained backbone (stage 1 alone), for the dose-response table (optional)")
    p.add_argument("--n", type=int, default=64, help="held-out query images for the mechanism numbers")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ianet_viz.course.mechanism import held_out_people
    from ianet_viz.course.probe import held_out_root, probe_people
    from ianet_viz.settings import RUNS_DIR

    x, masks, n_train = probe_people()
    qx, qmasks = held_out_people(held_out_root(), (128, 64), n=args.n)
    nets = models(args.old, args.old_backbone)
    dose = dose_rows(nets, (x, masks, n_train), (qx, qmasks))
    write_csv(RESULTS_DIR / "dose_response.csv", dose)
    tables = {
        "pretraining": pretraining_rows(Path(RUNS_DIR) / "pretrain"),
        "probe": probe_rows(nets, x, masks, n_train),
        "dose and response": [{k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()} for r in dose],
        "mechanism": mechanism_rows(nets, qx, qmasks),
        "accuracy": accuracy_rows(RESULTS_DIR / "mechanism.csv"),
    }
    for name, rows in tables.items():
        print(f"## {name}\n{format_table(rows) if rows else '(nothing yet)'}\n")
    if args.write:
        body = "\n\n".join(f"**{name}**\n\n{format_table(rows, markdown=True)}" for name, rows in tables.items() if rows)
        update_results("pretraining", section("pretraining: features that know body parts (issue 17)",
                                              command_line("benchmarks.pretraining", argv), describe_device("cpu"),
                                              body, NOTES))
    return tables


NOTES = """\
Machine: a 2-core AMD EPYC VM (Zen 4, KVM), shared during the pretraining with test runs and other
jobs (load 4-7): the first, quiet epoch trained at 38 img/s with 2 threads, the busy ones at 10-19 img/s.
`--old` is the demo model shipped before this change (`git show 905e143:ianet_viz/course/weights/demo_ianet_r18.pt`).

The probe is balanced accuracy (mean recall over the 7 labels: background, head, torso, arms, legs,
shoes, bag; chance 0.143) of a linear classifier of each cell's majority part label, fitted on the
gallery images of the first two thirds of the held-out identities and scored on the others'.
"position" knows only where the cell is, "feat+pos" both. Mechanism numbers use 64 query images;
"S / matched" is S's part lift divided by that of a Gaussian of the same self-weight (issue 17 asks
>= 1.25 with every branch adding >= 0.05 and a stage-2 self-weight <= 0.35).

What it shows:
* **Pretraining made features that know parts better**, modestly: at stage 2 the probe reads
  0.591 from the pretrained backbone against 0.554 at random init and 0.509 for the previous demo
  model (with position: 0.711, 0.657, 0.659); at stage 3 0.512 against 0.483 and 0.443. Position
  alone reads 0.611 and 0.506, so at stage 3 the features add little to where a cell is.
* **With those features the paper's dot relation gathers by part.** The paper-literal block's S has
  a lift 1.47x that of a Gaussian of its self-weight (the same block inserted into a baseline trained
  from random init: 1.09x, `ft:paper` in section "mechanism_resnet18-128x64-e6-ids100"), and every pt: run's "lift
  init" (epoch 0: pretrained features, fresh blocks) is already as high: the selectivity comes
  from the features, fine-tuning keeps it.
* **What concentrates it is the multi-context fusion.** On seed 0 of `pt:dot+mean+gate0.1`, stage 2,
  held-out people: S^A_1 keeps 0.29 of each row on the query cell (lift 1.56x its matched Gaussian),
  S^A_1 fused with S^L 0.31 (1.57x), but the geometric mean of K = 1, 2, 3 keeps 0.46 and S 0.48
  (1.43x); the paper's product keeps 0.70. A K x K patch matches itself at every one of its K^2
  offsets, so each K > 1 map peaks harder at the query than S^A_1.
* **Hence the demo model: K = 1 and a gate from 0.1** (`pt:k1+gate0.1`, what the authors' released
  code computes, plus an open gate): it meets every done-when number of issue 17 (table above:
  branches add 0.064-0.079, self 0.31, lift 1.55x at stage 2 and 2.01x at stage 3; a local Gaussian
  scores 4.58 against its 8.52). The previous demo levers (`pt:demo`: cosine relation, geometric
  mean) spread S to 0.23 but follow parts less than a blob (0.71x).
* **Accuracy is a tie**, IA minus baseline over 5 paired seeds from the same backbone, 95 % CI:
  every interval holds 0 or lies within 0.3 points below it, near a 91 % mAP ceiling of the demo
  split (50 test identities). The target of a CI above zero is not reached.
* Not tried: 256 x 128 input (ResNet-18 trains at about a third of the speed there on this CPU);
  with the sigma rule "map" the priors already cover the paper's share of the person at 128 x 64."""



if __name__ == "__main__":
    main()
