"""Experiments: the paper's ablations replicated at CPU scale on synthetic pedestrians, seeds x configurations.

Every run trains with :func:`ianet_viz.train.train` (the "paper" recipe: cross-entropy, Adam 3e-4,
batch 32, random flip; no ImageNet weights, so random init) on the synthetic dataset
(``ianet_viz.synthetic``: identities = attribute sets, pose / scale / offset / camera vary,
per-pixel part masks) and is evaluated once, after the last epoch, on its query/gallery split
(Market-1501 protocol). Nothing is selected on the test split: one fixed recipe, one evaluation.

Part alignment (Fig. 8's claim as a number, ``ianet_viz.viz.part_alignment``): for up to 32 query
images, the semantic map S of each SIA block is recorded and, for every query cell on a body part,
the share of its relation mass on the same part is divided by the part's area share (lift: 1 = no
better than uniform). Columns ``align_<block>`` = mean lift over parts; ``align_stage3_<part>``
per part; ``align_<block>_noself`` the same with each cell's weight on itself removed (rows
renormalised), because a map that attends only to its own cell gets lift 1/area without gathering
anything (for this variant a uniform map scores below 1 on small parts, ``(n-1)/(M-1)`` over
``n/M``: compare with the location-only configuration, not with 1). ``S_self_<block>`` is the mean weight a cell keeps for itself and ``S_entropy_<block>``
the normalised row entropy of S (1 = uniform, 0 = one cell): they show whether SIA gathers at all.
``ia_bn_gamma`` is the mean |weight| of the IA blocks' BatchNorms (zero at initialisation, eq. 9):
how far the blocks' residual branches have opened.
Empty for models without SIA (baseline, CIA only). ``--rescore`` recomputes these columns from the
saved checkpoints (``runs/experiments/<config>-seed<s>/checkpoint.pt``) without training. A run
whose folder holds a checkpoint but which is not in runs.csv (the process was killed) is resumed
from it (``ianet_viz.train``'s exact resume); its wall time is then left empty.

Grids (the IA-block defaults everywhere else: SIA+CIA after stages 2 and 3, K = 1,2,3, product
fusion renormalised, sigma by the per-stage rule of ``build_ianet``):

* ``ia``: baseline vs SIA vs CIA vs IA (SIA+CIA)                              (Tab. 4d / 5)
* ``ks``: K sets {1}, {2}, {3}, {1,2,3}                                        (Tab. 4a)
* ``fusion``: multi-context fusion prod / sum / max                            (Tab. 4b)
* ``maps``: location / appearance / semantic                                   (Tab. 4c)
* ``arrangement``: sia, cia, sia+cia, cia+sia, parallel                        (Tab. 4d)
* ``sigma``: sigma1 in {1, 2, 5, 10, 20}, sigma2 = 2 sigma1, at both stages     (Fig. 7)

Runs that are the same configuration in two grids (e.g. IA = K {1,2,3} = prod = semantic =
sia+cia) are trained once and shared through ``benchmarks/results/runs.csv``; a run already there
(same configuration, seed and scale) is not trained again, so an interrupted grid resumes.

CPU scale (default): ResNet-18, 128x64, ``--epochs`` (default 6) over ``--identities`` (default
100: 50 train, 50 test) x ``--images`` (default 12) synthetic identities; one run is about 3500
training images, 60-90 s on one free core (~55 img/s with one thread, ~100 with two), so all 17
distinct configurations x 3 seeds take about an hour; much longer at low priority on a busy
machine (``nice`` shares). ``--full``: the GPU scale (ResNet-50, 256x128, 60 epochs, 400
identities x 16 images).

    python -m benchmarks.experiments --grid sigma --seeds 3 [--epochs 8] [--write]
    python -m benchmarks.experiments --grid all --seeds 3 --write
    python -m benchmarks.experiments --grid ia --seeds 3 --full --write     # on a GPU
"""
from __future__ import annotations

import sys
from pathlib import Path

import math
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from benchmarks.common import (RESULTS_DIR, command_line, describe_device, format_table, read_csv, section,
                               update_results, write_csv)

IA = dict()  # the IA defaults of TrainConfig: ia_stages (2, 3), sia+cia, K 1,2,3, prod, renorm, sigma rule

GRIDS: Dict[str, List[Tuple[str, Dict]]] = {
    "ia": [
        ("baseline", dict(ia_stages=())),
        ("SIA", dict(arrangement="sia")),
        ("CIA", dict(arrangement="cia")),
        ("IA (SIA+CIA)", IA),
    ],
    "gate": [
        ("baseline", dict(ia_stages=())),
        ("IA (SIA+CIA)", IA),
        ("IA (gate wd=0)", dict(ia_bn_weight_decay=0.0)),
    ],
    "ks": [
        ("K={1}", dict(ks=(1,))),
        ("K={2}", dict(ks=(2,))),
        ("K={3}", dict(ks=(3,))),
        ("K={1,2,3}", IA),
    ],
    "fusion": [
        ("prod", IA),
        ("sum", dict(multi="sum")),
        ("max", dict(multi="max")),
    ],
    "maps": [
        ("location", dict(use_appearance=False)),
        ("appearance", dict(use_location=False)),
        ("semantic", IA),
    ],
    "arrangement": [
        ("sia", dict(arrangement="sia")),
        ("cia", dict(arrangement="cia")),
        ("sia+cia", IA),
        ("cia+sia", dict(arrangement="cia+sia")),
        ("parallel", dict(arrangement="parallel")),
    ],
    "sigma": [(f"sigma1={s:g}", dict(sigma=(float(s), 2.0 * s))) for s in (1, 2, 5, 10, 20)],
}
GRID_TITLES = {
    "ia": "baseline vs SIA vs CIA vs IA (Tab. 4d/5 analogue)",
    "gate": "weight decay on the IA blocks' zero-initialised BatchNorm (the gate of eq. 9)",
    "ks": "context sizes K (Tab. 4a analogue)",
    "fusion": "multi-context fusion (Tab. 4b analogue)",
    "maps": "location / appearance / semantic (Tab. 4c analogue)",
    "arrangement": "arrangements of SIA and CIA (Tab. 4d analogue)",
    "sigma": "sigma1 of the location prior, sigma2 = 2 sigma1 (Fig. 7 analogue)",
}

RUNS_CSV = "runs.csv"
FIELDS = ["grid", "config", "key", "seed", "mAP", "rank1", "rank5", "align_stage2", "align_stage3",
          "align_stage2_noself", "align_stage3_noself",
          "align_stage3_head", "align_stage3_torso", "align_stage3_arms", "align_stage3_legs", "align_stage3_shoes",
          "align_stage3_bag", "S_self_stage2", "S_self_stage3", "S_entropy_stage2", "S_entropy_stage3", "ia_bn_gamma", "wall_s", "epochs", "backbone", "size", "train_images", "identities", "scale", "code", "date"]
PARTS = ("head", "torso", "arms", "legs", "shoes", "bag")


def scale_settings(args) -> Dict:
    """The training scale: CPU (default), --quick (seconds) or --full (GPU)."""
    if args.full:
        s = dict(backbone="resnet50", height=256, width=128, epochs=60, identities=400, images=16, workers=8,
                 device="auto", scale="full")
    elif args.quick:
        s = dict(backbone="resnet18", height=64, width=32, epochs=1, identities=12, images=6, workers=0,
                 device="cpu", scale="quick", batch_size=16)
    else:
        s = dict(backbone="resnet18", height=128, width=64, epochs=6, identities=100, images=12, workers=0,
                 device="cpu", scale="cpu")
    s["tag"] = getattr(args, "tag", None)
    for k in ("epochs", "identities", "images", "backbone", "batch_size"):
        v = getattr(args, k, None)
        if v is not None:
            s[k] = v
    return s


def config_key(overrides: Dict) -> str:
    """A canonical, readable key for a configuration (the IA defaults are the empty key "IA")."""
    if not overrides:
        return "IA"
    parts = []
    for k in sorted(overrides):
        v = overrides[k]
        v = ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) if isinstance(v, tuple) else v
        parts.append(f"{k}={v}")
    return ";".join(parts)


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in key)[:80]


def data_root(s: Dict) -> Path:
    from ianet_viz.train.loaders import synthetic_root

    return synthetic_root(s["identities"], s["images"], s["height"], s["width"], seed=0)


def map_diagnostics(model, root: Path, size, n: int = 32) -> Dict[str, float]:
    """Part-alignment lift of S per SIA block, S self weight and entropy, IA BN |gamma| (module docstring)."""
    from ianet_viz.course.mechanism import held_out_people, part_lift
    from ianet_viz.measures import normalised_entropy, self_weight
    from ianet_viz.recorder import record
    from ianet_viz.viz import part_alignment

    out: Dict[str, float] = {}
    gammas = [m.bn.weight.detach().abs().mean().item() for b in getattr(model, "ia_blocks", {}).values()
              for m in (getattr(b, "sia", None), getattr(b, "cia", None)) if m is not None]
    if gammas:  # how far the zero-initialised residual branches have opened (eq. 9: Y = BN(E) + F)
        out["ia_bn_gamma"] = float(np.mean(gammas))
    if not any(getattr(b, "sia", None) is not None for b in getattr(model, "ia_blocks", {}).values()):
        return out
    x, masks = held_out_people(root, size, n)
    maps_by_block, shapes = record(model, x, keys=("S",))
    for block, maps in maps_by_block.items():
        if "S" not in maps:
            continue
        res = part_alignment(maps["S"], masks, shapes[block])
        if res:
            out[f"align_{block}"] = float(np.mean([r["lift"] for r in res.values()]))
        if block == "stage3":
            for part, r in res.items():
                out[f"align_stage3_{part}"] = r["lift"]
        # the same without each cell's weight on itself (rows renormalised): a map that only
        # attends to its own cell scores 1/area above, which says nothing about gathering a part
        out[f"align_{block}_noself"] = part_lift(maps["S"], masks, shapes[block])
        # why a block does or does not gather: the weight each cell keeps for itself, and the
        # normalised row entropy (1 = uniform over the map, 0 = one cell)
        out[f"S_self_{block}"] = self_weight(maps["S"])
        out[f"S_entropy_{block}"] = normalised_entropy(maps["S"])
    return out


def train_one(key: str, overrides: Dict, seed: int, s: Dict, out_dir: Path) -> Dict:
    import torch

    from ianet_viz.course.sweep import train_or_resume
    from ianet_viz.train import TrainConfig

    cfg = TrainConfig(
        dataset="synthetic", data_root=str(data_root(s)), height=s["height"], width=s["width"],
        synthetic_identities=s["identities"], synthetic_images=s["images"], synthetic_seed=0,
        backbone=s["backbone"], pretrained=None, recipe="paper", epochs=s["epochs"], seed=seed,
        output=str(run_folder(out_dir, key, seed, s)), overwrite=True, device=s["device"],
        num_workers=s["workers"], progress=False, eval_every=0, batch_size=s.get("batch_size"), **overrides)
    t0 = time.perf_counter()
    result, resumed = train_or_resume(cfg, verbose=True)  # an interrupted run of this configuration continues
    wall = time.perf_counter() - t0
    try:
        align = map_diagnostics(result.model, data_root(s), (s["height"], s["width"]))
    except Exception as err:  # alignment is a bonus; never lose a trained run over it
        print(f"  part alignment failed: {type(err).__name__}: {err}")
        align = {}
    n_train = sum(1 for _ in (data_root(s) / "bounding_box_train").glob("*.jpg"))
    del result.model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    row = {"key": key, "seed": seed, "mAP": result.metrics["mAP"], "rank1": result.metrics["rank1"],
           "rank5": result.metrics.get("rank5", ""), "wall_s": "" if resumed else round(wall, 1), "epochs": s["epochs"],
           "backbone": s["backbone"], "size": f"{s['height']}x{s['width']}", "identities": s["identities"],
           "train_images": n_train,
           "scale": s["scale"], "code": _code(), "date": time.strftime("%Y-%m-%d")}
    row.update({k: round(v, 4) for k, v in align.items()})
    return row


class _locked:
    """An exclusive ``fcntl`` lock for ``path`` (a lock file in the temp folder, so nothing lands
    beside the results; no-op where fcntl is missing)."""

    def __init__(self, path: Path):
        import hashlib
        import tempfile

        digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"ianet_viz-{digest}.lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w")
        try:
            import fcntl

            fcntl.flock(self.f, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover
            pass
        return self

    def __exit__(self, *exc):
        self.f.close()  # closing releases the lock (the file stays: unlinking it would race)


def code_version() -> str:
    """Hash of the model code (functional, modules, model) this process imported: a cached run is
    reused only if it was trained by the same code (the baseline does not depend on the IA code)."""
    import hashlib

    import ianet_viz.functional
    import ianet_viz.model
    import ianet_viz.modules

    h = hashlib.sha1()
    for mod in (ianet_viz.functional, ianet_viz.modules, ianet_viz.model):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()[:10]


_CODE = None


def _code() -> str:
    global _CODE
    if _CODE is None:
        _CODE = code_version()
    return _CODE


def _same_scale(r: Dict, s: Dict) -> bool:
    return (r.get("scale") == s["scale"] and str(r.get("epochs")) == str(s["epochs"]) and r.get("backbone") == s["backbone"]
            and str(r.get("identities")) == str(s["identities"]) and r.get("size") == f"{s['height']}x{s['width']}")


def run_grid(grid: str, seeds: Sequence[int], s: Dict, results_dir: Path, runs_dir: Path, log=print,
             only: Optional[Sequence[str]] = None) -> List[Dict]:
    """Train every (configuration, seed) of ``grid`` not yet in runs.csv; write ``<grid>.csv``.

    ``only``: the configuration labels to run (default all of the grid)."""
    runs_path = results_dir / (RUNS_CSV if s["scale"] == "cpu" else f"runs_{s['scale']}.csv")
    suffix = out_suffix(s)
    rows = []
    for label, overrides in GRIDS[grid]:
        if only and label not in only:
            continue
        key = config_key(overrides)
        for seed in seeds:
            cache = read_csv(runs_path)
            hit = [r for r in cache if r["key"] == key and str(r["seed"]) == str(seed) and _same_scale(r, s)
                   and (r.get("code") == _code() or key == config_key(dict(ia_stages=())))]
            if hit:
                row = dict(hit[-1])
                log(f"[{grid}] {label} seed {seed}: cached (mAP {float(row['mAP']):.4f})")
            else:
                log(f"[{grid}] {label} seed {seed}: training ({key}) ...")
                row = train_one(key, overrides, seed, s, runs_dir)
                with _locked(runs_path):  # several grids may run in parallel processes
                    cache = read_csv(runs_path)
                    cache.append(dict(row, grid="", config=""))
                    write_csv(runs_path, cache, FIELDS)
                log(f"[{grid}] {label} seed {seed}: mAP {row['mAP']:.4f} rank1 {row['rank1']:.4f} "
                    f"align3 {row.get('align_stage3', '-')} ({row['wall_s']} s)")
            row.update(grid=grid, config=label)
            rows.append(row)
            _merge_grid_csv(results_dir / f"{grid}{suffix}.csv", rows, grid, runs_path)
    return read_csv(results_dir / f"{grid}{suffix}.csv") if rows else rows


def _merge_grid_csv(path: Path, rows: List[Dict], grid: str, lock_for: Path) -> None:
    """Write ``rows`` into the grid CSV, keeping rows of other (config, seed) pairs that another
    process (e.g. one running ``--configs`` for a part of the grid) wrote; grid order, then seed."""
    order = {label: i for i, (label, _) in enumerate(GRIDS[grid])}
    with _locked(lock_for):
        mine = {(r["config"], str(r["seed"])) for r in rows}
        merged = [r for r in read_csv(path) if (r["config"], str(r["seed"])) not in mine] + list(rows)
        merged.sort(key=lambda r: (order.get(r["config"], len(order)), int(r["seed"])))
        write_csv(path, merged, FIELDS)


def out_suffix(s: Dict) -> str:
    """File-name suffix of a scale: "" for the default CPU scale, else "_<scale>[_<tag>]"."""
    parts = ([] if s["scale"] == "cpu" else [s["scale"]]) + ([s["tag"]] if s.get("tag") else [])
    return "".join(f"_{p}" for p in parts)


def run_folder(runs_dir: Path, key: str, seed: int, s: Dict) -> Path:
    """Where a run's checkpoint goes: ``<runs_dir>/<config>-seed<s>`` (other scales/tags get a prefix)."""
    prefix = out_suffix(s)[1:] + "-" if out_suffix(s) else ""
    return Path(runs_dir) / f"{prefix}{_slug(key)}-seed{seed}"


def rescore(grid: str, s: Dict, results_dir: Path, runs_dir: Path, log=print) -> List[Dict]:
    """Recompute the alignment and map columns of ``<grid>.csv`` and runs.csv from saved checkpoints."""
    from ianet_viz.train import load_model

    grid_path = results_dir / f"{grid}{out_suffix(s)}.csv"
    runs_path = results_dir / (RUNS_CSV if s["scale"] == "cpu" else f"runs_{s['scale']}.csv")
    keys = {config_key(o) for _, o in GRIDS[grid]}
    scores: Dict[Tuple[str, str], Dict[str, float]] = {}

    def score(r: Dict) -> Dict[str, float]:
        k = (r["key"], str(r["seed"]))
        if k not in scores:
            ck = run_folder(runs_dir, r["key"], r["seed"], s) / "checkpoint.pt"
            scores[k] = map_diagnostics(load_model(ck), data_root(s), (s["height"], s["width"])) \
                if ck.is_file() else {}
            log(f"[{grid}] rescored {r['key']} seed {r['seed']}" + ("" if ck.is_file() else " (no checkpoint)"))
        return scores[k]

    with _locked(runs_path):
        for path in (grid_path, runs_path):
            rows = read_csv(path)
            for r in rows:
                if r["key"] in keys and _same_scale(r, s):
                    r.update({k: round(v, 4) for k, v in score(r).items()})
            if rows:
                write_csv(path, rows, FIELDS)
    return read_csv(grid_path)


def _f(v) -> Optional[float]:
    try:
        x = float(v)
        return None if math.isnan(x) else x
    except (TypeError, ValueError):
        return None


def summarise(rows: List[Dict]) -> List[Dict]:
    """Mean +- std (over seeds) per configuration, in grid order."""
    out = []
    labels = list(dict.fromkeys(r["config"] for r in rows))
    for label in labels:
        rs = [r for r in rows if r["config"] == label]
        row = {"config": label, "seeds": len(rs)}
        for col, name in (("mAP", "mAP %"), ("rank1", "rank-1 %"), ("align_stage3", "align st3"),
                          ("align_stage3_noself", "align st3 no-self"), ("S_self_stage2", "S self st2"),
                          ("S_self_stage3", "S self st3"), ("ia_bn_gamma", "IA BN mean abs gamma"), ("wall_s", "wall s")):
            vals = [v for v in (_f(r.get(col)) for r in rs) if v is not None]
            if not vals:
                row[name] = ""
                continue
            mult = 100.0 if col in ("mAP", "rank1") else 1.0
            m, sd = mult * float(np.mean(vals)), mult * float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            if col in ("mAP", "rank1", "wall_s"):
                row[name] = f"{m:.1f} ± {sd:.1f}"
            elif col == "ia_bn_gamma":
                row[name] = f"{m:.4f} ± {sd:.4f}"
            else:
                row[name] = f"{m:.2f} ± {sd:.2f}"
        out.append(row)
    return out


def plot(grid: str, rows: List[Dict], path: Path) -> Optional[Path]:
    """mAP, rank-1 and stage-3 part alignment per configuration: mean ± std over seeds, dots = seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["config"] for r in rows))
    metrics = [("mAP", "mAP (%)", 100.0), ("rank1", "rank-1 (%)", 100.0),
               ("align_stage3_noself", "part-alignment lift of S, stage 3\n(own cell excluded; 1 = part area share)", 1.0),
               ("S_self_stage3", "weight S keeps on its own cell, stage 3", 1.0)]
    metrics = [m for m in metrics if any(_f(r.get(m[0])) is not None for r in rows)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.5), squeeze=False)
    xs = np.arange(len(labels))
    line = grid == "sigma"
    for ax, (col, title, mult) in zip(axes[0], metrics):
        means, stds = [], []
        for i, label in enumerate(labels):
            vals = np.array([v for v in (_f(r.get(col)) for r in rows if r["config"] == label) if v is not None]) * mult
            means.append(vals.mean() if vals.size else np.nan)
            stds.append(vals.std(ddof=1) if vals.size > 1 else 0.0)
            ax.scatter(np.full(vals.size, i), vals, s=10, color="0.3", zorder=3)
        if line:
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=4, color="C0")
        else:
            ax.bar(xs, means, yerr=stds, capsize=4, color="C0", alpha=0.6)
        if col.startswith("align"):
            ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=30 if not line else 0, ha="right" if not line else "center", fontsize=8)
        ax.set_title(title, fontsize=9)
    n = len({str(r["seed"]) for r in rows})
    fig.suptitle(f"{GRID_TITLES.get(grid, grid)}: mean ± std over {n} seeds", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parser():
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="ia", help=f"one of {', '.join(GRIDS)}, a comma-separated list, or 'all'")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ... N-1); >= 3 for a report")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--identities", type=int, default=None, help="synthetic identities (half train, half test)")
    p.add_argument("--images", type=int, default=None, help="synthetic images per identity")
    p.add_argument("--backbone", default=None)
    p.add_argument("--batch-size", type=int, default=None, help="default: the paper recipe's 32 (16 with --quick)")
    p.add_argument("--configs", default=None,
                   help="comma-separated configuration labels of the grid to run (default: all), e.g. 'baseline,SIA'")
    p.add_argument("--tag", default=None,
                   help="name a non-default setting: outputs <grid>_<tag>.csv/png, run folders <tag>-..., "
                        "RESULTS section experiments_<grid>_<tag> (e.g. --epochs 24 --tag e24)")
    p.add_argument("--full", action="store_true", help="GPU scale: ResNet-50, 256x128, 60 epochs, 400 identities")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds per run); writes under --results-dir only")
    p.add_argument("--write", action="store_true", help="refresh the grid's section of benchmarks/RESULTS.md")
    p.add_argument("--results-dir", default=str(RESULTS_DIR), help="where the CSVs and plots go")
    p.add_argument("--runs-dir", default=None, help="training run folders (default runs/experiments)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    p.add_argument("--summary-only", action="store_true", help="do not train: summarise/plot the CSVs there are")
    p.add_argument("--rescore", action="store_true",
                   help="do not train: recompute alignment and map statistics from the saved checkpoints")
    return p


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parser().parse_args(argv)
    if args.quick and args.results_dir == str(RESULTS_DIR):
        raise SystemExit("--quick runs would pollute benchmarks/results: pass --results-dir DIR")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    grids = list(GRIDS) if args.grid == "all" else [g.strip() for g in args.grid.split(",") if g.strip()]
    for g in grids:
        if g not in GRIDS:
            raise SystemExit(f"unknown grid {g!r}; choose one of {', '.join(GRIDS)} or 'all'")
    s = scale_settings(args)
    _code()  # the code this process trains with, hashed now
    results_dir = Path(args.results_dir)
    from ianet_viz.settings import RUNS_DIR

    runs_dir = Path(args.runs_dir) if args.runs_dir else Path(RUNS_DIR) / "experiments"
    out = {}
    suffix = out_suffix(s)
    for g in grids:
        if args.rescore:
            rows = rescore(g, s, results_dir, runs_dir)
        elif args.summary_only:
            rows = read_csv(results_dir / f"{g}{suffix}.csv")
        else:
            only = [c.strip() for c in args.configs.split(",")] if args.configs else None
            rows = run_grid(g, range(args.seeds), s, results_dir, runs_dir, only=only)
        if not rows:
            print(f"[{g}] no results")
            continue
        summary = summarise(rows)
        png = plot(g, rows, results_dir / f"{g}{suffix}.png")
        text = format_table(summary)
        print(f"\n{GRID_TITLES[g]}\n{text}")
        out[g] = {"rows": rows, "summary": summary, "png": png}
        if args.write:
            # the command that trains this grid from scratch (a --rescore / --summary-only call only
            # recomputes columns or plots; cached runs are reused either way)
            argv_list = list(sys.argv[1:] if argv is None else argv)
            train_argv, skip = [], False
            for i, a in enumerate(argv_list):
                if skip:
                    skip = False
                    continue
                if a in ("--rescore", "--summary-only"):
                    continue
                if a == "--grid":
                    train_argv += ["--grid", g]
                    skip = True
                    continue
                if a.startswith("--grid="):
                    train_argv.append(f"--grid={g}")
                    continue
                train_argv.append(a)
            if "--grid" not in train_argv and not any(a.startswith("--grid=") for a in train_argv):
                train_argv = ["--grid", g] + train_argv
            train_cmd = command_line("benchmarks.experiments", train_argv)
            settings = (f"{s['backbone']} from random init, {s['height']}x{s['width']}, {s['epochs']} epochs, "
                        f"synthetic pedestrians: {s['identities']} identities x {s['images']} images "
                        f"({s['identities'] // 2} train identities), paper recipe (CE, Adam 3e-4, batch 32, flip); "
                        f"mean ± std over seeds; align = part-alignment lift of S at stage 3 (1 = the part's area share; "
                        f"'no-self' excludes each cell's weight on itself); S self = weight S keeps on the query cell; "
                        f"IA BN mean abs gamma = how far the zero-initialised IA branches have opened.")
            threads = f"{args.threads} torch thread(s) per run" if args.threads else "torch's default threads"
            body = (f"Training command: `{train_cmd}` (CPU scale runs were started in the background with "
                    f"`nohup nice -n 10 ...`, {threads}; wall times include waiting for the shared CPU). "
                    f"Runs are cached in `benchmarks/results/runs.csv` and shared between grids.\n\n"
                    f"{settings}\n\n{format_table(summary, markdown=True)}\n\n"
                    f"CSV: `benchmarks/results/{g}{suffix}.csv`; plot: `benchmarks/results/{g}{suffix}.png`\n\n"
                    f"![{g}](results/{g}{suffix}.png)")
            update_results(f"experiments_{g}{suffix}", section(
                f"experiments: {GRID_TITLES[g]}" + (f", {s['epochs']} epochs [{suffix[1:]}]" if suffix else ""),
                command_line("benchmarks.experiments", argv),
                describe_device(), body, out.get("notes", "")))
    return out


if __name__ == "__main__":
    main()
