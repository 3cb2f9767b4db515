"""Mechanism study (issue "Make the mechanism work"): which levers open the IA gates and keep SIA's
receptive fields on body parts, and does IA then beat the baseline? Paired seeds, 95 % CIs.

Every run trains on synthetic pedestrians with ``train(..., monitor=...)``, so ``mechanism.jsonl`` in
its folder logs, per IA block and epoch (epoch 0 = the random-init network): the gate |gamma|,
||BN(E)||/||F||, the self-weight of S and of each S^A_K, and the part lift of S with the query cell
removed next to a local Gaussian's (:mod:`ianet_viz.course.mechanism`).

    python -m benchmarks.mechanism --configs baseline,paper,mean,cosine --seeds 0 --epochs 6   # screen
    python -m benchmarks.mechanism --configs baseline,winner --seeds 0,1,2,3,4 --write          # decide
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ianet_viz.course.stats import paired_ci

from benchmarks.common import RESULTS_DIR, describe_device, format_table, section, update_results

#: the levers, as TrainConfig overrides ("paper" = the IA defaults, the paper's literal mechanism)
COSINE = dict(sia_relation="cosine", sia_learn_scale=True)
CONFIGS: Dict[str, Dict] = {
    "baseline": dict(ia_stages=()),
    "paper": dict(),
    "mean": dict(multi="mean"),
    "cosine": dict(**COSINE),
    "cosine+mean": dict(multi="mean", **COSINE),
    "cosine+mean+lr10": dict(multi="mean", ia_lr_mult=10.0, **COSINE),
    "paper+lr10": dict(ia_lr_mult=10.0),
    "cosine+mean+gate0.1": dict(multi="mean", gate_init=0.1, **COSINE),
    "gate0.1": dict(gate_init=0.1),
    "cosine+mean+gate0.1+lr10": dict(multi="mean", gate_init=0.1, ia_lr_mult=10.0, **COSINE),
    "cosine7+mean+gate0.1": dict(multi="mean", gate_init=0.1, sia_scale=7.0, **COSINE),
}
CSV_NAME = "mechanism.csv"
BLOCKS = ("stage2", "stage3")
# the columns kept per block from the last and the first (random-init) monitor record
MECH_KEYS = ("sia_gate", "cia_gate", "sia_ratio", "cia_ratio", "self_S", "self_S_A", "self_S_A_1", "self_S_A_3",
             "lift_S", "lift_local", "lift_matched", "sia_temperature")

def settings(args) -> Dict:
    return dict(backbone=args.backbone, height=args.height, width=args.width, epochs=args.epochs,
                identities=args.identities, images=args.images)


def data_root(s: Dict) -> Path:
    from ianet_viz.train.loaders import synthetic_root

    return synthetic_root(s["identities"], s["images"], s["height"], s["width"])


def tag(s: Dict) -> str:
    return f"{s['backbone']}-{s['height']}x{s['width']}-e{s['epochs']}-ids{s['identities']}"


def run_one(name: str, seed: int, s: Dict, runs_dir: Path, extra: Optional[Dict] = None) -> Dict:
    """Train (or resume, or read back) one configuration and seed; returns its CSV row."""
    from ianet_viz.train import TrainConfig, train
    from ianet_viz.train.checkpoint import load_checkpoint
    from ianet_viz.train.engine import MECHANISM_NAME, read_log
    from ianet_viz.course.mechanism import monitor

    overrides = dict(CONFIGS[name], **(extra or {}))
    out = runs_dir / tag(s) / f"{name}-seed{seed}"
    cfg = TrainConfig(dataset="synthetic", data_root=str(data_root(s)), height=s["height"], width=s["width"],
                      synthetic_identities=s["identities"], synthetic_images=s["images"], backbone=s["backbone"],
                      recipe="paper", epochs=s["epochs"], seed=seed, output=str(out), num_workers=0,
                      progress=False, overwrite=True, **overrides)
    t0 = time.perf_counter()
    if (out / "metrics.json").is_file() and load_checkpoint(out)["epoch"] == s["epochs"]:
        metrics = json.loads((out / "metrics.json").read_text())
    else:
        mon = monitor(data_root(s), (s["height"], s["width"])) if cfg.ia_stages != () else None
        resume = (out / "checkpoint.pt").is_file()
        metrics = train(cfg, monitor=mon, resume=resume, overwrite=not resume).metrics
    mech = read_log(out, MECHANISM_NAME)
    row = {"config": name, "seed": seed, "mAP": round(100 * metrics["mAP"], 2),
           "rank1": round(100 * metrics["rank1"], 2), "wall_s": round(time.perf_counter() - t0, 1), "tag": tag(s)}
    for when, rec in (("", mech[-1] if mech else {}), ("init_", mech[0] if mech else {})):
        for b in BLOCKS:
            for k in MECH_KEYS:
                v = rec.get(f"mech/{b}/{k}")
                if v is not None and (when == "" or k in ("lift_S", "self_S")):
                    row[f"{when}{b}_{k}"] = round(float(v), 4)
    return row


def read_rows(path: Path) -> List[Dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: List[Dict]) -> None:
    cols: List[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def summarise(rows: List[Dict], reference: str = "baseline") -> List[Dict]:
    """One line per configuration: mAP, paired difference to ``reference`` with its 95 % CI, and the
    mechanism at the end of training (medians over seeds)."""
    by = {}
    for r in rows:
        by.setdefault(r["config"], {})[int(r["seed"])] = r
    ref = by.get(reference, {})
    out = []
    for name, runs in by.items():
        seeds = sorted(runs)
        maps = [_num(runs[s]["mAP"]) for s in seeds]
        line = {"config": name, "seeds": len(seeds), "mAP %": f"{np.mean(maps):.1f} ± {np.std(maps, ddof=1) if len(maps) > 1 else 0:.1f}"}
        paired = [s for s in seeds if s in ref]
        if name != reference and paired:
            ci = paired_ci([_num(runs[s]["mAP"]) for s in paired], [_num(ref[s]["mAP"]) for s in paired])
            line["Δ mAP vs baseline [95% CI]"] = (f"{ci['mean']:+.1f} [{ci['lo']:+.1f}, {ci['hi']:+.1f}]"
                                                  if ci["n"] > 1 else f"{ci['mean']:+.1f}")
        for col, key in (("ratio S2", "stage2_sia_ratio"), ("ratio C2", "stage2_cia_ratio"),
                         ("ratio S3", "stage3_sia_ratio"), ("ratio C3", "stage3_cia_ratio"),
                         ("self S st2", "stage2_self_S"), ("self S_A1 st2", "stage2_self_S_A_1"),
                         ("lift S st2", "stage2_lift_S"), ("lift local st2", "stage2_lift_local"),
                         ("lift matched st2", "stage2_lift_matched"),
                         ("lift init st2", "init_stage2_lift_S"), ("self S st3", "stage3_self_S")):
            vals = [_num(runs[s].get(key)) for s in seeds]
            vals = [v for v in vals if not math.isnan(v)]
            if vals:
                line[col] = f"{np.median(vals):.3f}"
        out.append(line)
    cols: List[str] = []
    for line in out:
        cols += [k for k in line if k not in cols]
    return [{k: line.get(k, "") for k in cols} for line in out]


CURVES_NAME = "mechanism_curves.csv"


def export_curves(names: Sequence[str], seed: int, s: Dict, runs_dir: Path, path: Path) -> Path:
    """One CSV row per (configuration, epoch, block) from the runs' ``mechanism.jsonl``: the gates,
    residual ratios and self-weights over training, epoch 0 being the random-init network."""
    from ianet_viz.train.engine import MECHANISM_NAME, read_log

    rows = []
    for name in names:
        for rec in read_log(runs_dir / tag(s) / f"{name}-seed{seed}", MECHANISM_NAME):
            for b in BLOCKS:
                row = {"config": name, "seed": seed, "epoch": rec["epoch"], "block": b}
                row.update({k: round(float(rec[f"mech/{b}/{k}"]), 4) for k in MECH_KEYS if f"mech/{b}/{k}" in rec})
                rows.append(row)
    write_rows(path, rows)
    return path


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="baseline,paper,cosine+mean", help=f"comma list of {', '.join(CONFIGS)}")
    p.add_argument("--seeds", default="0")
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--identities", type=int, default=100)
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs-dir", default=None)
    p.add_argument("--csv", default=str(RESULTS_DIR / CSV_NAME))
    p.add_argument("--summary-only", action="store_true", help="only print the table of --csv")
    p.add_argument("--write", action="store_true", help="write the summary into benchmarks/RESULTS.md")
    p.add_argument("--curves", action="store_true",
                   help=f"also write the per-epoch logs of the first seed to results/{CURVES_NAME}")
    args = p.parse_args(argv)
    import torch

    from ianet_viz.settings import RUNS_DIR

    torch.set_num_threads(args.threads)
    s = settings(args)
    runs_dir = Path(args.runs_dir) if args.runs_dir else Path(RUNS_DIR) / "mechanism"
    path = Path(args.csv)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        p.error(f"unknown configs {unknown}; known: {', '.join(CONFIGS)}")
    seeds = [int(x) for x in args.seeds.split(",")]
    if not args.summary_only:
        for seed in seeds:  # seed-major: every configuration of a seed before the next seed (pairs early)
            for name in names:
                row = run_one(name, seed, s, runs_dir)
                rows = [r for r in read_rows(path) if not (r["config"] == name and int(r["seed"]) == seed
                                                           and r.get("tag") == tag(s))]
                write_rows(path, rows + [row])
                print(json.dumps(row), flush=True)
    if args.curves:
        print(f"curves: {export_curves(names, seeds[0], s, runs_dir, path.parent / CURVES_NAME)}")
    rows = [r for r in read_rows(path) if r.get("tag") == tag(s) and r["config"] in names]
    table = summarise(rows)
    print(format_table(table))
    if args.write:
        cmd = "python -m benchmarks.mechanism " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
        body = format_table(table, markdown=True)
        update_results(f"mechanism_{tag(s)}", section(f"mechanism: levers at {tag(s)}", cmd, describe_device("cpu"), body))
    return table


if __name__ == "__main__":
    main()
