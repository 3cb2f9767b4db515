"""The paper's ablation protocols at the course's CPU scale: Fig. 7 (sigma) and Tab. 4a-c.

The paper's Fig. 7 and Tab. 4a-c vary one ingredient of **one SIA block placed after stage 3**
(Hou et al., CVPR 2019, Sec. 4.3), not of the full network with IA blocks at two stages. Notebooks
05 and 06 run exactly that here, on the demo model's mechanism (:data:`ianet_viz.course.demo.DEMO_MECHANISM`)
and at the sweep's CPU scale (:data:`ianet_viz.course.SWEEP_SCALES`), with paired seeds and the
baseline (no block) trained on the same seeds, so that every row can be reported as a difference to
the baseline with its 95 % confidence interval (:mod:`ianet_viz.course.stats`).

Where the protocol differs from the paper (say so next to every table):

* synthetic pedestrians, ResNet-18 from random init, 128 x 64 input, 6 epochs, instead of Market-1501,
  ImageNet ResNet-50, 256 x 128, 60 epochs;
* so the stage-3 map is 8 x 4 cells, not 16 x 8: a sigma of ``s`` cells here covers the share of the
  person that ``2 s`` covers in the paper (:data:`FIG7_SIGMA1` therefore starts at 0.5);
* the demo mechanism (cosine relation with a learned temperature, geometric-mean fusion of the K
  maps, gates starting at 0.1) instead of the paper's dot product and product fusion; the paper's
  product is one row of Tab. 4b.

Every run is one :func:`ianet_viz.course.run_sweep` run in ``runs/notebooks/protocols/``; a run that
finished is read back, so the notebooks and ``python -m benchmarks.protocols`` share them.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

# format_paired ("+1.2 [-0.3, +2.7]") formats a difference_table or contrast line; notebooks call P.format_paired
from .stats import format_paired, paired_table  # noqa: F401

#: one SIA block after stage 3, as in the paper's Fig. 7 and Tab. 4a-c
STAGE3_SIA = dict(ia_stages=(3,), arrangement="sia")
#: sigma1 values of the Fig. 7 sweep, in cells of the 8 x 4 stage-3 map (sigma2 = 2 sigma1);
#: 5 is the paper's (5, 10), the package default at stage 3
FIG7_SIGMA1: Tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
PROTOCOL_SEEDS: Tuple[int, ...] = (0, 1, 2, 3, 4)
BASELINE = "baseline"
RUN_NAME = "protocols"


def fig7_label(sigma1: float, location_only: bool) -> str:
    """The run label of one Fig. 7 point: ``"S^L only s1=2"`` or ``"SIA s1=2"``."""
    return f"{'S^L only' if location_only else 'SIA'} s1={sigma1:g}"


def fig7_runs(sigma1: Sequence[float] = FIG7_SIGMA1) -> Dict[str, dict]:
    """Fig. 7's runs: the baseline, then for every sigma1 a location-only SIA (S = S^L, a fixed
    Gaussian blur gated by eq. 9) and the full SIA (S = S^A . S^L), both at stage 3 only."""
    runs = {BASELINE: dict(ia_stages=())}
    for location_only in (True, False):
        for s1 in sigma1:
            runs[fig7_label(s1, location_only)] = dict(STAGE3_SIA, sigma=(float(s1), 2.0 * s1),
                                                       **({"use_appearance": False} if location_only else {}))
    return runs


def fig7_tables(sigma1: Sequence[float] = FIG7_SIGMA1) -> Dict[str, Dict[str, str]]:
    """Fig. 7's two curves as tables: ``{curve: {"s1=<sigma1>": run label}}``."""
    return {name: {f"s1={s:g}": fig7_label(s, location_only) for s in sigma1}
            for name, location_only in (("location only (S = S^L)", True), ("full SIA (S = S^A · S^L)", False))}


_DEFAULT = fig7_label(5.0, False)          # the demo mechanism's SIA at stage 3 with the paper's sigma
_LOCATION = fig7_label(5.0, True)

#: Tab. 4a-c: table -> {row shown: run label}; rows sharing a run are trained once
TAB4: Dict[str, Dict[str, str]] = {
    "Tab. 4a: context sizes K": {"K={1}": "K=1", "K={2}": "K=2", "K={3}": "K=3", "K={1,2,3}": _DEFAULT},
    "Tab. 4b: fusion of the K maps (eq. 2)": {"max": "max", "sum": "sum", "prod (paper)": "prod",
                                               "mean (demo)": _DEFAULT},
    "Tab. 4c: relation": {"location S^L": _LOCATION, "appearance S^A": "appearance", "semantic S": _DEFAULT},
}
_TAB4_EXTRA = {"K=1": dict(ks=(1,)), "K=2": dict(ks=(2,)), "K=3": dict(ks=(3,)), "max": dict(multi="max"),
               "sum": dict(multi="sum"), "prod": dict(multi="prod"), "appearance": dict(use_location=False)}


def tab4_runs() -> Dict[str, dict]:
    """Tab. 4a-c's runs: the baseline, the shared default SIA and location-only SIA (also Fig. 7
    points), and one run per other row."""
    shared = fig7_runs((5.0,))
    extra = {label: dict(STAGE3_SIA, sigma=(5.0, 10.0), **kw) for label, kw in _TAB4_EXTRA.items()}
    return {**shared, **extra}


def all_runs(sigma1: Sequence[float] = FIG7_SIGMA1) -> Dict[str, dict]:
    """Every distinct run of both protocols (what ``python -m benchmarks.protocols`` trains)."""
    return {**fig7_runs(sigma1), **tab4_runs()}


def smoke_subset(runs: Dict[str, dict], keep: int) -> Dict[str, dict]:
    """The baseline and the first ``keep`` other runs: what a smoke run of a notebook trains."""
    others = [k for k in runs if k != BASELINE][:keep]
    return {k: runs[k] for k in [BASELINE, *others] if k in runs}


def _percent(rows: Sequence[Dict], metric: str) -> List[Dict]:
    """``rows`` with ``metric`` (a fraction, as ``run_sweep`` writes it) in percent."""
    return [dict(r, **{metric: 100.0 * float(r[metric])}) for r in rows]


def difference_table(rows: Sequence[Dict], labels: Dict[str, str], metric: str = "mAP") -> List[Dict]:
    """One line per shown row of ``labels`` ({row shown: run label}) whose run is in ``rows``
    (``run_sweep`` rows, fractions): ``{"row", "run", "n", "mean", "std"}`` in % and, paired by seed
    with the baseline, ``"pairs", "diff", "lo", "hi"`` (the mean difference and its 95 % CI, in
    points). The baseline's own line comes first."""
    by_run = {line["config"]: line for line in paired_table(_percent(rows, metric), reference=BASELINE, metric=metric)}
    out = []
    for shown, run in {BASELINE: BASELINE, **labels}.items():
        if run in by_run:
            out.append(dict(by_run[run], row=shown, run=run))
    return out


def contrast(rows: Sequence[Dict], a: str, b: str, metric: str = "mAP") -> Dict[str, float]:
    """Run ``a`` minus run ``b`` (labels of ``rows``, fractions), paired by seed, in points:
    ``{"pairs", "diff", "lo", "hi"}`` with the 95 % CI, the shape of a :func:`difference_table` line.
    For the comparisons inside a table, e.g. the semantic relation against the location relation (Tab. 4c)."""
    pair = [r for r in _percent(rows, metric) if r["config"] in (a, b)]
    line = next((ln for ln in paired_table(pair, reference=b, metric=metric) if ln["config"] == a), {})
    if "diff" not in line:
        raise ValueError(f"no seed has both {a!r} and {b!r}")
    return {k: line[k] for k in ("pairs", "diff", "lo", "hi")}


def by_metric(rows: Sequence[Dict], labels: Dict[str, str]) -> Dict[str, List[Dict]]:
    """``{"mAP": lines, "rank1": lines}``: :func:`difference_table` of one table for both metrics, the
    input of :func:`ianet_viz.viz.ablation.plot_sigma_differences` and ``plot_difference_tables``."""
    return {metric: difference_table(rows, labels, metric=metric) for metric in ("mAP", "rank1")}


#: the mechanism numbers shown next to every protocol row (``mechanism_report`` of the stage-3 block)
MECHANISM_KEYS = ("sia_ratio", "self_S", "lift_S", "lift_local")


def mechanism_rows(rows: Sequence[Dict], scale: str = "cpu", name: str = RUN_NAME, n: int = 16) -> List[Dict]:
    """For every run of ``rows`` (``run_sweep`` rows) with an IA block: ``{"config", "seed", <MECHANISM_KEYS>}``,
    the :func:`~ianet_viz.course.mechanism_report` of its stage-3 block on ``n`` held-out people, so a
    table can say whether the block it ablates adds anything and gathers anything. Each result is
    cached in the run's folder (``mechanism.json``) and recomputed when the checkpoint is newer."""
    import json

    from ..train import load_model
    from ..train.loaders import dataset_root
    from .mechanism import held_out_people, mechanism_report
    from .sweep import run_folder, sweep_config

    runs = all_runs()
    people = None
    out = []
    for r in rows:
        label, seed = str(r["config"]), int(r["seed"])
        if label not in runs or not runs[label].get("ia_stages"):
            continue  # the baseline has no block to measure
        folder = run_folder(name, label, seed)
        cache, ckpt = folder / "mechanism.json", folder / "checkpoint.pt"
        if not ckpt.is_file():
            continue
        if cache.is_file() and cache.stat().st_mtime >= ckpt.stat().st_mtime:
            values = json.loads(cache.read_text())
        else:
            if people is None:
                cfg = sweep_config(scale)
                people = held_out_people(dataset_root(cfg), (cfg.height, cfg.width), n=n)
            report = mechanism_report(load_model(folder), *people)["stage3"]
            values = {k: report.get(k, float("nan")) for k in MECHANISM_KEYS}
            cache.write_text(json.dumps(values))
        out.append({"config": label, "seed": seed, **values})
    return out


def mechanism_medians(mech: Sequence[Dict], labels: Dict[str, str]) -> Dict[str, Dict[str, float]]:
    """``{row shown: {key: median over seeds}}`` of :func:`mechanism_rows` for one table's ``labels``."""
    import numpy as np

    out = {}
    for shown, run in labels.items():
        vals = [m for m in mech if m["config"] == run]
        if vals:
            out[shown] = {k: float(np.median([float(m[k]) for m in vals])) for k in MECHANISM_KEYS}
    return out
