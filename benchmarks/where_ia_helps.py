"""Where IA helps (issue 27): IA minus baseline under more misalignment and more look-alike people.

The definition below (levels, data, models, seeds, training) was committed before any accuracy run of
this benchmark and is not retuned after seeing IA's numbers; a level that turns out degenerate (the
baseline at chance or at its ceiling) is reported as such, not replaced.

* **Data**: per level, a synthetic set of 100 identities x 12 images at 128 x 64 (50 train, 50 test
  identities), synthetic seed 2700: identities drawn apart from the pretraining corpus, the demo split
  (seed 0) and the mechanism's held-out people (seed 4242). :mod:`ianet_viz.synthetic.levels` turns
  the two dials: ``misalignment`` (framed, everyday, misframed) and ``group`` (people per group sharing
  their main garments, differing in shoes, hair, bag and hat; 1 = independent people).
* **Levels**: misalignment at groups of 4 (framed-g4, everyday-g4, misframed-g4), and confusability at
  everyday boxes (everyday-g1, everyday-g4): an L of four sets.
* **Models**: the shipped models' regime (``benchmarks.mechanism`` ``parts:``): the shipped part-taught
  backbone, fresh IA blocks, 6 epochs of the paper recipe, backbone at a tenth of the learning rate.
  ``parts:baseline`` (no block), ``parts:demo`` (K = 1, gate 0.1), ``parts:paper`` (paper-literal).
* **SIA alone and CIA alone** (the demo model's blocks with one branch, ``parts:sia``, ``parts:cia``), "if
  the budget allows": on the two ends of the misalignment dial (framed-g4, misframed-g4), 5 seeds. Added
  to this definition after the three models' runs of the first levels were in, before any run of theirs;
  nothing else changed.
* **Seeds** 0-4, paired: seed k of every model on a level shares data order and head initialisation.
* **Power**: on the demo split, the demo-minus-baseline mAP differences of the 5 paired seeds had a
  standard deviation of 0.28 points (``mechanism.csv``, ``parts:`` rows), so the 95 % CI is +-0.35
  and a 1-point difference is resolvable; a harder level with 3x that spread still resolves 1 point.
* **Per level**: mAP and rank-1 on the level's own test people; IA minus baseline with its 95 % CI;
  and the stage-2 fields on 32 of those people: effective cells, own-part share, and the own-part
  share of a Gaussian of the same size (the matched control).

    python -m benchmarks.where_ia_helps --level misframed-g4        # one level: 15 runs, resumable
    python -m benchmarks.where_ia_helps --level framed-g4,misframed-g4 --models parts:sia,parts:cia
    python -m benchmarks.where_ia_helps --summary-only --write      # the table into RESULTS.md
    python -m benchmarks.where_ia_helps --smoke                     # one tiny level in seconds (CI)

Rows land in ``results/where_ia_helps.csv`` as each run finishes (with its wall time and machine); a
row already there is not rerun, and a killed run resumes from its checkpoint.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ianet_viz.course.where import CSV_NAME
from ianet_viz.synthetic.levels import Level

from benchmarks.common import RESULTS_DIR, _cpu_model, command_line, describe_device, format_table, read_csv, \
    section, update_results, write_csv

#: the levels, fixed before any run (see the module docstring)
LEVELS: Dict[str, Level] = {lv.name: lv for lv in (
    Level("misframed", 4), Level("framed", 4), Level("everyday", 4), Level("everyday", 1))}
#: the models (configurations of benchmarks.mechanism)
MODELS = ("parts:baseline", "parts:demo", "parts:paper")
#: one branch alone, on the ends of the misalignment dial only (the budget): --models parts:sia,parts:cia
ONE_BRANCH = ("parts:sia", "parts:cia")
ONE_BRANCH_LEVELS = ("framed-g4", "misframed-g4")
SEEDS = (0, 1, 2, 3, 4)
DATA_SEED = 2700
SETTINGS = dict(backbone="resnet18", height=128, width=64, epochs=6, identities=100, images=12)
#: CI: one tiny level, one epoch of two steps
SMOKE = dict(backbone="resnet18", height=64, width=32, epochs=1, identities=8, images=4,
             train=dict(max_steps_per_epoch=2, batch_size=8, eval_batch_size=16))
FIELD_KEYS = ("stage2_cells_S", "stage2_own_S", "stage2_own_gauss")


def level_root(level: Level, s: Dict, base: Path) -> Path:
    """The level's synthetic set (written on first use)."""
    from ianet_viz.synthetic import ensure_dataset

    root = base / f"{level.name}-ids{s['identities']}-k{s['images']}-{s['height']}x{s['width']}-seed{DATA_SEED}"
    return ensure_dataset(root, identities=s["identities"], images_per_identity=s["images"], seed=DATA_SEED,
                          height=s["height"], width=s["width"], level=level)


def run_level(level: Level, s: Dict, runs_dir: Path, csv: Optional[Path], models=MODELS, seeds=SEEDS) -> List[Dict]:
    """Every model and seed of one level, seed-major (pairs complete early); rows already in ``csv`` are
    kept, the rest trained (or resumed) and appended as they finish."""
    from benchmarks.mechanism import run_one

    root = level_root(level, s, runs_dir / "data")
    done = {(r["level"], r["config"], int(r["seed"])) for r in read_csv(csv)} if csv else set()
    rows = []
    for seed in seeds:
        for name in models:
            if (level.name, name, seed) in done:
                continue
            out = runs_dir / level.name / f"{name.replace(':', '_')}-seed{seed}"
            row = dict(level=level.name, **run_one(name, seed, s, runs_dir, root=root, out=out),
                       machine=_cpu_model())
            rows.append(row)
            if csv:
                write_csv(csv, read_csv(csv) + [row])
            print(json.dumps({k: row[k] for k in ("level", "config", "seed", "mAP", "wall_s")}), flush=True)
    return rows


def summarise(rows: Sequence[Dict]) -> List[Dict]:
    """Per level and model: mAP, IA minus baseline with its 95 % CI, and the stage-2 fields (medians)."""
    from ianet_viz.course.where import level_table

    return level_table(rows, list(LEVELS))


NOTES = """\
Definition: the module docstring of `benchmarks/where_ia_helps.py` (levels, data, models, seeds, power),
committed in `7792a26` before any accuracy run; SIA alone and CIA alone added in `705098a`, before their
runs. Each row: one level and model, 5 paired seeds; Δ = IA minus `parts:baseline` with the 95 % CI of the
paired difference (t, 4 d.o.f.); fields = the stage-2 S of the models with SIA on 32 of the level's test
people (medians over seeds): effective cells, own-part share with the query cell removed, and the same
share for a Gaussian of the same size. The verdict lines give the differences to two decimals.

How the runs were made (2026-12-07, the 2-core AMD EPYC VM, two processes of one thread side by side,
separate CSVs merged into `results/where_ia_helps.csv`; 115-313 s a run, 3.6 hours of run time, two at a time, for
the 80 runs):

    python -m benchmarks.where_ia_helps --level misframed-g4,everyday-g4 --csv A.csv
    python -m benchmarks.where_ia_helps --level framed-g4,everyday-g1 --csv B.csv
    python -m benchmarks.where_ia_helps --level misframed-g4 --models parts:sia,parts:cia --csv C.csv
    python -m benchmarks.where_ia_helps --level framed-g4 --models parts:sia,parts:cia --csv D.csv"""



def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--level", default=None, help=f"comma list of {', '.join(LEVELS)} (default: all, in order)")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs-dir", default=None, help="run folders and data (default: runs/where_ia_helps)")
    p.add_argument("--csv", default=str(RESULTS_DIR / CSV_NAME))
    p.add_argument("--summary-only", action="store_true")
    p.add_argument("--write", action="store_true", help="write the summary into benchmarks/RESULTS.md")
    p.add_argument("--smoke", action="store_true", help="one tiny level, one model pair, one seed, in a temporary folder")
    args = p.parse_args(argv)
    import torch

    from ianet_viz.settings import RUNS_DIR

    torch.set_num_threads(args.threads)
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run_level(Level("misframed", 2), SMOKE, Path(tmp), None, models=("parts:baseline", "parts:demo"),
                             seeds=(0,))
        print(format_table([{k: r[k] for k in ("level", "config", "seed", "mAP", "stage2_own_S") if k in r}
                            for r in rows]))
        return rows
    csv = Path(args.csv)
    if not args.summary_only:
        runs_dir = Path(args.runs_dir) if args.runs_dir else Path(RUNS_DIR) / "where_ia_helps"
        names = [x.strip() for x in (args.level or ",".join(LEVELS)).split(",") if x.strip()]
        unknown = [n for n in names if n not in LEVELS]
        if unknown:
            p.error(f"unknown levels {unknown}; known: {', '.join(LEVELS)}")
        for name in names:
            run_level(LEVELS[name], SETTINGS, runs_dir, csv, models=args.models.split(","),
                      seeds=[int(x) for x in args.seeds.split(",")])
    rows = read_csv(csv)
    table = summarise(rows)
    print(format_table(table))
    from ianet_viz.course.where import level_lines, verdict

    lines = verdict(level_lines(rows, list(LEVELS)))
    print("\n".join(lines))
    if args.write:
        body = format_table(table, markdown=True) + "\n\n" + "\n".join(f"* {ln}" for ln in lines)
        update_results("where_ia_helps", section("where IA helps: misalignment and confusability levels",
                                                 command_line("benchmarks.where_ia_helps", argv),
                                                 describe_device("cpu"), body, NOTES))
    return table


if __name__ == "__main__":
    main()
