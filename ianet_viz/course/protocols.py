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

The same protocol runs in another setting (:class:`Setting`: dataset, backbone, input size), e.g. on a
GPU machine, ``python -m benchmarks.protocols --dataset market1501 --backbone resnet50 --size 256x128
--device cuda --write``: its runs go to ``runs/notebooks/protocols-<tag>/`` and its rows to
``benchmarks/results/protocols-<tag>.csv``, which notebooks 05 and 06 read back (:func:`sweep_rows`)
when the model they show (``IANET_MODEL``) has that setting, and say which sweep they show.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..model import PAPER_INPUT
# format_paired ("+1.2 [-0.3, +2.7]") formats a difference_table or contrast line; notebooks call P.format_paired
from .stats import format_paired, paired_table  # noqa: F401

#: one SIA block after stage 3, as in the paper's Fig. 7 and Tab. 4a-c
STAGE3_SIA = dict(ia_stages=(3,), arrangement="sia")
#: sigma1 values of the Fig. 7 sweep, in cells of the 8 x 4 stage-3 map (sigma2 = 2 sigma1). The
#: paper's (5, 10) cells at 256 x 128 cover the share of the person that (2.5, 5) covers here (the
#: package default at stage 3, ``stage_sigma(3, input_size=(128, 64))``); the committed sweep ran
#: before that rule and has no 2.5 row; 5 is the paper's number of cells.
FIG7_SIGMA1: Tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
PROTOCOL_SEEDS: Tuple[int, ...] = (0, 1, 2, 3, 4)
BASELINE = "baseline"
RUN_NAME = "protocols"


@dataclass(frozen=True)
class Setting:
    """Where a protocol sweep runs: the dataset, the backbone and the input size ``(H, W)``. The default
    is the course's CPU scale (synthetic pedestrians, ResNet-18, 128 x 64), the committed sweep."""

    dataset: str = "synthetic"
    backbone: str = "resnet18"
    size: Tuple[int, int] = (128, 64)

    @classmethod
    def of(cls, config) -> "Setting":
        """The setting of a :class:`~ianet_viz.train.TrainConfig` (e.g. ``course_model().config``)."""
        return cls(str(config.dataset), str(config.backbone), (int(config.height), int(config.width)))

    @property
    def default(self) -> bool:
        return self == Setting()

    @property
    def tag(self) -> str:
        """``"market1501-resnet50-256x128"``: the suffix of its run folder and CSV."""
        return f"{self.dataset}-{self.backbone}-{self.size[0]}x{self.size[1]}"

    def describe(self) -> str:
        return f"{self.dataset}, {self.backbone}, {self.size[0]}x{self.size[1]}"

    def run_name(self, smoke: bool = False) -> str:
        """The sweep's folder under ``runs/notebooks/``: ``protocols`` for the default setting."""
        return (RUN_NAME if self.default else f"{RUN_NAME}-{self.tag}") + ("-smoke" if smoke else "")

    def csv_name(self) -> str:
        """Its rows in ``benchmarks/results/``: ``protocols.csv`` for the default setting."""
        return f"{RUN_NAME}.csv" if self.default else f"{RUN_NAME}-{self.tag}.csv"

    def overrides(self, **extra) -> dict:
        """``TrainConfig`` overrides that put a protocol run in this setting; ``extra`` (``data_root``,
        ``pretrained``, ``epochs``, ``device``, ``num_workers``) is added where it is not ``None``."""
        out = {} if self.default else dict(dataset=self.dataset, backbone=self.backbone, height=self.size[0],
                                           width=self.size[1])
        out.update({k: v for k, v in extra.items() if v is not None})
        return out

    @property
    def paper_sigma_factor(self) -> float:
        """What a sigma in cells of this setting's stage-3 map is in cells of the paper's (16 x 8 at 256 x 128):
        2 at 128 x 64 (an 8 x 4 map), 1 at 256 x 128."""
        return PAPER_INPUT[1] / self.size[1]

    def command(self) -> str:
        """The command that runs this setting's sweep on a GPU machine and writes its CSV."""
        return (f"python -m benchmarks.protocols --dataset {self.dataset} --backbone {self.backbone} "
                f"--size {self.size[0]}x{self.size[1]} --device cuda --write")


def parse_size(text: str) -> Tuple[int, int]:
    """``"256x128"`` -> ``(256, 128)``."""
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"a size is HEIGHTxWIDTH, e.g. 256x128; got {text!r}") from None
    return h, w


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


_DEFAULT = fig7_label(5.0, False)          # the sweep's default SIA (COSINE_MEAN_LEVERS) at stage 3, the paper's sigma
_LOCATION = fig7_label(5.0, True)

#: Tab. 4a-c: table -> {row shown: run label}; rows sharing a run are trained once
TAB4: Dict[str, Dict[str, str]] = {
    "Tab. 4a: context sizes K": {"K={1}": "K=1", "K={2}": "K=2", "K={3}": "K=3", "K={1,2,3}": _DEFAULT},
    "Tab. 4b: fusion of the K maps (eq. 2)": {"max": "max", "sum": "sum", "prod (paper)": "prod",
                                               "geometric mean": _DEFAULT},
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


def mechanism_rows(rows: Sequence[Dict], scale: str = "cpu", name: str = RUN_NAME, n: int = 16,
                   setting: Optional[Setting] = None, device: str = "cpu") -> List[Dict]:
    """For every run of ``rows`` (``run_sweep`` rows) with an IA block: ``{"config", "seed", <MECHANISM_KEYS>}``,
    the :func:`~ianet_viz.course.mechanism_report` of its stage-3 block on ``n`` held-out people, so a
    table can say whether the block it ablates adds anything and gathers anything. Each result is
    cached in the run's folder (``mechanism.json``) and recomputed when the checkpoint is newer.
    The people are synthetic (they need part masks): the sweep's own data in the default ``setting``,
    else synthetic pedestrians at the setting's input size."""
    import json

    from ..train import load_model
    from ..train.loaders import dataset_root
    from .mechanism import held_out_people, mechanism_report, synthetic_people_root
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
                if setting is None or setting.default:
                    cfg = sweep_config(scale)
                    people = held_out_people(dataset_root(cfg), (cfg.height, cfg.width), n=n)
                else:  # real data has no part masks: synthetic people (as the demo model's) at the run's size
                    people = held_out_people(synthetic_people_root(setting.size), setting.size, n=n)
            report = mechanism_report(load_model(folder, device=device), *people)["stage3"]
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


# ----------------------------------------------------------------------------- sweeps run elsewhere

_METRICS = ("mAP", "rank1", "rank5")


def _number(v) -> Optional[float]:
    return None if v in (None, "") else float(v)


def finished_rows(name: str, runs: Optional[Dict[str, dict]] = None) -> List[Dict]:
    """``run_sweep`` rows of every finished run (``metrics.json``) in ``runs/notebooks/<name>/``, for the
    labels of ``runs`` (default: :func:`all_runs`), whatever the seeds; nothing is trained."""
    import json

    from .sweep import run_folder

    out = []
    for label in (all_runs() if runs is None else runs):
        parent = run_folder(name, label, 0).parent
        stem = run_folder(name, label, 0).name[: -len("0")]  # "<label slug>-seed"
        for metrics in sorted(parent.glob(f"{stem}*/metrics.json")):
            seed = metrics.parent.name[len(stem):]
            if not seed.isdigit():
                continue
            m = json.loads(metrics.read_text())
            out.append({"config": label, "seed": int(seed), **{k: m[k] for k in _METRICS if k in m}, "wall_s": None})
    return out


def read_back(setting: Setting, folder=None, runs: Optional[Dict[str, dict]] = None):
    """``(rows, mech, where)`` of ``setting``'s sweep, run elsewhere: the CSV that ``python -m
    benchmarks.protocols --write`` wrote (``benchmarks/results/<setting.csv_name()>``, or in ``folder``),
    else the finished runs of ``runs/notebooks/<setting.run_name()>/`` (a copied folder). ``None`` when
    neither is here. Only the labels of ``runs`` (default: :func:`all_runs`) are kept."""
    from .. import settings
    from .sweep import read_results

    runs = all_runs() if runs is None else runs
    csv = read_results(setting.csv_name(), folder)
    if csv:
        rows, mech = [], []
        for r in csv:
            if r.get("config") not in runs:
                continue
            rows.append({"config": r["config"], "seed": int(r["seed"]),
                         **{k: _number(r.get(k)) for k in _METRICS}, "wall_s": _number(r.get("wall_s"))})
            if all(r.get(k) not in (None, "") for k in MECHANISM_KEYS):
                mech.append({"config": r["config"], "seed": int(r["seed"]), **{k: float(r[k]) for k in MECHANISM_KEYS}})
        where = Path(settings.RESULTS_DIR if folder is None else folder) / setting.csv_name()
        return rows, mech, settings.relpath(where)
    rows = finished_rows(setting.run_name(), runs)
    if not rows:
        return None
    return rows, mechanism_rows(rows, name=setting.run_name(), setting=setting), f"runs/notebooks/{setting.run_name()}/"


class Shown(NamedTuple):
    """Which sweep a notebook shows: its setting (for titles), where it was read from, and a line to
    print (``print(shown)`` prints the line)."""

    setting: Setting
    where: str
    text: str

    def __str__(self) -> str:
        return self.text


def sweep_rows(setting: Setting, runs: Dict[str, dict], seeds: Sequence[int], smoke: bool = False):
    """``(rows, mech, shown)`` for a notebook: ``run_sweep`` rows of ``runs``, their :func:`mechanism_rows`,
    and which sweep they are (:class:`Shown`: ``shown.setting`` for titles, ``print(shown)``).

    The default setting trains or reads back its runs here (``smoke``: the smoke scale, always afresh;
    else the cpu scale: its finished runs under ``runs/notebooks/``, else the committed CSV of
    ``benchmarks/results/``, else trained here, resumable). Another setting (the model of ``IANET_MODEL``: e.g. Market-1501, R50,
    256x128) is only read back (:func:`read_back`): it is trained elsewhere, by ``setting.command()``.
    When it is not here, a note says so and the default sweep is shown instead."""
    from .sweep import run_sweep

    if not setting.default:
        back = read_back(setting, runs=runs)
        if back is not None:
            rows, mech, where = back
            return rows, mech, Shown(setting, where, f"showing: the sweep of {setting.describe()} run elsewhere "
                                     f"(python -m benchmarks.protocols), read back from {where}: {len(rows)} runs")
        print(f"note: no protocol sweep of {setting.describe()} here (benchmarks/results/{setting.csv_name()} or "
              f"runs/notebooks/{setting.run_name()}/). Run `{setting.command()}` on a GPU machine and copy the CSV "
              "into benchmarks/results/; showing the course's CPU sweep instead.")
    default = Setting()
    scale, name = ("smoke" if smoke else "cpu"), default.run_name(smoke)
    if not smoke and not finished_rows(name, runs):
        back = read_back(default, runs=runs)  # the committed full sweep: no hour of training to show it
        if back is not None:
            rows, mech, where = back
            return rows, mech, Shown(default, where, f"showing: the course's sweep ({default.describe()}, cpu scale), "
                                     f"read back from {where} ({len(rows)} runs, made by `python -m "
                                     "benchmarks.protocols --write`); with it moved away, this cell trains the sweep here")
    rows = run_sweep(runs, seeds=seeds, scale=scale, name=name, resume=not smoke, verbose=False)
    mech = mechanism_rows(rows, scale=scale, name=name)
    where = f"runs/notebooks/{name}/"
    return rows, mech, Shown(default, where, f"showing: the course's sweep ({default.describe()}, {scale} scale, "
                             f"{len(seeds)} seeds), trained here or read back from {where}: {len(rows)} runs")


#: our Tab. 4a-c titles -> the paper's tables (ianet_viz.course.paper)
PAPER_TAB4 = dict(zip(TAB4, ("tab4a", "tab4b", "tab4c")))


def tab4_text(tab4: Dict[str, Dict[str, List[Dict]]], mech: Sequence[Dict]) -> str:
    """Notebook 06's Tab. 4a-c printout: the baseline, then per table the paper's rows and ours (mAP,
    paired difference to the baseline with its 95 % CI, top-1 difference, and what the block does:
    "adds" = ||BN(E)||/||F|| of the stage-3 SIA block, "self S" = the weight a cell keeps for itself)."""
    from .paper import paper_row

    base = next(iter(tab4.values()))
    out = [f"baseline (no IA block): mAP {base['mAP'][0]['mean']:.1f} ± {base['mAP'][0]['std']:.1f} %, "
           f"top-1 {base['rank1'][0]['mean']:.1f} % over {base['mAP'][0]['n']} seeds"]
    for title, m in tab4.items():
        out += ["", title, f"   {paper_row(PAPER_TAB4[title])}"]
        top1 = {ln["row"]: ln for ln in m["rank1"]}
        med = mechanism_medians(mech, TAB4[title])
        for ln in (ln for ln in m["mAP"] if "diff" in ln):
            k = med.get(ln["row"], {"sia_ratio": float("nan"), "self_S": float("nan")})
            out.append(f"   {ln['row']:<15s} seeds {ln['n']}  mAP {ln['mean']:5.1f} ± {ln['std']:3.1f}  "
                       f"Δ {format_paired(ln):>19s}   top-1 Δ {format_paired(top1[ln['row']]):>19s}   "
                       f"adds {k['sia_ratio']:.3f}  self S {k['self_S']:.2f}")
    return "\n".join(out)
