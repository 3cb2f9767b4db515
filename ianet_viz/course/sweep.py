"""Ablation sweeps for the course (notebooks 05 and 06): seeds x configurations of the demo model.

* :func:`sweep_config`, :func:`run_sweep`, :func:`summarise`: small sweeps through
  :func:`ianet_viz.train.train`, mean and std per configuration.
* :func:`read_results`: a CSV of the committed full sweeps (``benchmarks/results/``, written by
  ``python -m benchmarks.experiments``; the folder is :data:`ianet_viz.settings.RESULTS_DIR`).
"""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .. import settings
from ..settings import RUNS_DIR
from ..model import stage_sigma
from .demo import COSINE_MEAN_LEVERS, demo_config


#: Sweep scales, on top of the demo model's settings (ResNet-18 IANet from random init, 128x64,
#: synthetic pedestrians, paper recipe, CPU). "smoke": seconds per run (exercises the code; the
#: numbers are noise). "cpu": the scale of ``benchmarks/experiments.py`` (a few minutes per run on a
#: 2-core CPU).
SWEEP_SCALES = {
    "smoke": dict(synthetic_identities=16, synthetic_images=6, epochs=2, lr=1e-3, milestones=(), batch_size=32),
    "cpu": dict(synthetic_identities=100, synthetic_images=12, epochs=6, lr=3e-4, milestones=None, batch_size=32),
}


#: The committed sweeps' location prior at 128 x 64: the paper's numbers of cells (its 256 x 128 values),
#: twice as wide relative to the person as the prior that the map's size gives (``stage_sigma``).
SWEEP_SIGMA = {stage: stage_sigma(stage) for stage in (1, 2, 3, 4)}


def sweep_config(scale: str = "smoke", **overrides):
    """A :class:`~ianet_viz.train.TrainConfig` for one sweep run: the demo model's settings
    (:func:`ianet_viz.course.demo_config`) at ``scale``, plus ``overrides``. The device is TrainConfig's
    ``"auto"`` (CUDA when there is one) unless ``device=`` names one; a finished run is read back
    whatever device it ran on (``device`` is not compared on resume)."""
    if scale not in SWEEP_SCALES:
        raise ValueError(f"scale must be one of {', '.join(SWEEP_SCALES)}; got {scale!r}")
    # the mechanism and sigma of the committed sweeps (benchmarks/results/protocols.csv), so that
    # a rerun reproduces them: from random init, with the cosine-and-mean levers (COSINE_MEAN_LEVERS)
    base = dict(SWEEP_SCALES[scale], eval_every=0, max_steps_per_epoch=None, progress=False,
                synthetic_seed=0, pretrained=None, sigma=SWEEP_SIGMA, ks=(1, 2, 3), **COSINE_MEAN_LEVERS.changes())
    base.update(overrides)
    return demo_config(smoke=False, **base)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in text)[:60]


def run_folder(name: str, label: str, seed: int) -> Path:
    """Where :func:`run_sweep` keeps the run of ``label`` and ``seed`` in the sweep ``name``."""
    return Path(RUNS_DIR) / "notebooks" / name / f"{_slug(label)}-seed{seed}"


def _finished_run(cfg) -> Optional[Dict]:
    """The metrics of a run that already finished with exactly this configuration, else ``None``."""
    import json

    from ..train.config import config_differences

    path = Path(cfg.output) / "metrics.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a half-written or foreign file: train again
    if saved.get("epoch") != cfg.epochs or config_differences(saved.get("config", {}), cfg.resolved().to_dict()):
        return None
    return saved


def train_or_resume(cfg, errors=(ValueError, FileNotFoundError, KeyError, RuntimeError),
                    verbose: bool = False):
    """Continue an interrupted run of ``cfg`` from its checkpoint, else train it afresh (overwriting
    what is in ``cfg.output``): ``(TrainResult, resumed)``.

    A checkpoint that cannot be resumed (``errors``: another configuration, a damaged file) means a
    fresh start. Shared by :func:`run_sweep` and ``benchmarks.experiments``.
    """
    from .. import train as T

    if (Path(cfg.output) / "checkpoint.pt").is_file():
        try:
            return T.train(cfg, resume=True, overwrite=False), True
        except errors as err:
            if verbose:
                print(f"  cannot resume {cfg.output} ({type(err).__name__}: {str(err).splitlines()[0]}); starting over")
    return T.train(cfg, overwrite=True), False


def run_sweep(variants: Dict[str, dict], seeds: Sequence[int] = (0,), scale: str = "smoke",
              name: str = "sweep", verbose: bool = True, resume: bool = False) -> List[Dict]:
    """Train every ``(label, overrides)`` of ``variants`` for every seed; one row per run.

    Rows: ``{"config": label, "seed", "mAP", "rank1", "rank5", "wall_s"}`` (fractions). Runs go to
    ``runs/notebooks/<name>/<label>-seed<k>``. ``resume=False`` starts every run afresh.
    ``resume=True`` (a sweep of hours) loses nothing when interrupted: a run that finished with the
    same configuration is read back (``wall_s`` is then ``None``), a run that stopped part-way
    continues from its last checkpoint, and only a run with another configuration starts over.
    """
    from .. import train as T

    rows = []
    for label, overrides in variants.items():
        for seed in seeds:
            cfg = sweep_config(scale, seed=seed, output=str(run_folder(name, label, seed)),
                               **overrides)
            done = _finished_run(cfg) if resume else None
            t0 = time.perf_counter()
            if done is not None:
                metrics, wall = done, None
            elif resume:
                metrics, wall = train_or_resume(cfg, errors=(ValueError,))[0].metrics, None
            else:
                metrics = T.train(cfg, overwrite=True).metrics
                wall = time.perf_counter() - t0
            row = {"config": label, "seed": seed, "mAP": metrics["mAP"], "rank1": metrics["rank1"],
                   "rank5": metrics["rank5"], "wall_s": wall}
            rows.append(row)
            if verbose:
                note = "  (finished earlier: read back)" if done is not None else ""
                print(f"{label:<18} seed {seed}: mAP {100 * row['mAP']:5.1f}%  rank-1 {100 * row['rank1']:5.1f}%{note}")
    return rows


def summarise(rows: List[Dict], keys: Sequence[str] = ("rank1", "mAP")) -> List[Dict]:
    """Mean and sample std (in %) of ``keys`` per ``config``, in order of first appearance."""
    import numpy as np

    out = []
    for label in dict.fromkeys(r["config"] for r in rows):
        rs = [r for r in rows if r["config"] == label]
        row = {"config": label, "n": len(rs)}
        for k in keys:
            v = np.array([float(r[k]) for r in rs if r.get(k) not in (None, "")], dtype=float)
            v = v * 100 if v.size and v.max() <= 1.0 else v
            row[f"{k}_mean"] = float(v.mean()) if v.size else float("nan")
            row[f"{k}_std"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
            row[f"{k}_values"] = v.tolist()
        out.append(row)
    return out


def read_results(name: str, folder=None) -> Optional[List[Dict]]:
    """Rows of ``<folder>/<name>`` (a CSV written by ``python -m benchmarks.experiments``), or ``None``
    when the file is not there. ``folder`` defaults to :data:`ianet_viz.settings.RESULTS_DIR`."""
    path = Path(settings.RESULTS_DIR if folder is None else folder) / name
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


#: The committed full-network sweep (benchmarks/experiments.py): table -> {row: TrainConfig overrides},
#: ``{}`` being the paper-literal IANet, and the CSV each table's runs are in.
SWEEP_TABLES: Dict[str, Dict[str, dict]] = {
    "IA vs baseline (cf. Tab. 4d)": {"baseline": dict(ia_stages=()), "SIA": dict(arrangement="sia"),
                                     "CIA": dict(arrangement="cia"), "IA (SIA+CIA)": {}},
    "4a: context sizes K": {"K={1}": dict(ks=(1,)), "K={2}": dict(ks=(2,)), "K={3}": dict(ks=(3,)), "K={1,2,3}": {}},
    "4b: fusion of the K maps": {"max": dict(multi="max"), "sum": dict(multi="sum"), "prod": {}},
    "4c: relation": {"location": dict(use_appearance=False), "appearance": dict(use_location=False), "semantic": {}},
    "4d: arrangement": {"sia": dict(arrangement="sia"), "cia": dict(arrangement="cia"), "sia+cia": {},
                        "cia+sia": dict(arrangement="cia+sia"), "parallel": dict(arrangement="parallel")},
}
SWEEP_CSV = {"IA vs baseline (cf. Tab. 4d)": "ia.csv", "IA vs baseline, 24 epochs": "ia_e24.csv",
             "4a: context sizes K": "ks.csv", "4b: fusion of the K maps": "fusion.csv", "4c: relation": "maps.csv",
             "4d: arrangement": "arrangement.csv"}
#: the paper's choice in each table (drawn dark in the figure, marked in the printout)
PAPER_CHOICE = frozenset({"K={1,2,3}", "prod", "semantic", "sia+cia", "IA (SIA+CIA)"})


def read_sweep(folder=None) -> Tuple[Dict[str, List[Dict]], List[str]]:
    """The committed sweep: ``({table: summarise(rows)}, lines saying what each CSV holds or that it is missing)``."""
    results, notes = {}, []
    for table, name in SWEEP_CSV.items():
        rows = read_results(name, folder)
        if rows is None:
            notes.append(f"benchmarks/results/{name} is not there yet (run the command above)")
            continue
        results[table] = summarise(rows)
        meta = rows[0]
        notes.append(f"benchmarks/results/{name}: {len(rows)} runs ({meta.get('backbone', '?')}, "
                     f"{meta.get('size', '?')}, {meta.get('epochs', '?')} epochs, {meta.get('identities', '?')} identities)")
    return results, notes


def sweep_text(results: Dict[str, List[Dict]]) -> str:
    """Per table of :func:`read_sweep`: every row's top-1 and mAP (mean ± std over seeds), the paper's choice marked."""
    out = []
    for table, stats in results.items():
        if not stats:
            continue
        out.append(f"Tab. {table}")
        for s in stats:
            mark = "  <- paper's choice" if s["config"] in PAPER_CHOICE else ""
            out.append(f"   {s['config']:<12} seeds {s['n']}  top-1 {s['rank1_mean']:5.1f} ± {s['rank1_std']:4.1f}"
                       f"   mAP {s['mAP_mean']:5.1f} ± {s['mAP_std']:4.1f}{mark}")
    return "\n".join(out)
