"""The paper's protocols for Fig. 7 and Tab. 4a-c: one SIA block after stage 3, paired seeds, each row
against the baseline with a 95 % CI (definitions and differences from the paper:
``ianet_viz.course.protocols``).

Every run is a ``run_sweep`` run in ``runs/notebooks/protocols/`` (the folder notebooks 05 and 06
read back in full mode); a finished run is never trained twice, an interrupted one resumes.
``--part K/N`` trains every N-th run starting at K, so N processes can share the work; then one
call without ``--part`` (everything is read back) writes the CSV and the RESULTS.md section.

    python -m benchmarks.protocols --part 0/2 &  python -m benchmarks.protocols --part 1/2; wait
    python -m benchmarks.protocols --write
"""
from __future__ import annotations

import argparse
from typing import Dict, List, Optional, Sequence

from benchmarks.common import RESULTS_DIR, command_line, describe_device, format_table, section, update_results, write_csv

CSV_NAME = "protocols.csv"


def tables() -> Dict[str, Dict[str, str]]:
    """Every table the notebooks show: {title: {row shown: run label}}."""
    from ianet_viz.course import protocols as P

    return {**{f"Fig. 7, {curve}": labels for curve, labels in P.fig7_tables().items()}, **P.TAB4}


def summary(rows: Sequence[Dict], mech: Sequence[Dict] = ()) -> List[Dict]:
    """The rows of RESULTS.md: one per table row, mAP and top-1 with the paired difference to the
    baseline, and the medians over seeds of what the stage-3 block adds (``||BN(E)||/||F||``) and of
    the self-weight of its S (``mech``: ``ianet_viz.course.protocols.mechanism_rows``)."""
    from ianet_viz.course import protocols as P

    out = []
    for title, labels in tables().items():
        diffs = P.by_metric(rows, labels)
        top1 = {line["run"]: line for line in diffs["rank1"]}
        med = P.mechanism_medians(mech, labels)
        for line in diffs["mAP"]:
            t, m = top1[line["run"]], med.get(line["row"], {})
            out.append({"table": title, "row": line["row"], "seeds": line["n"],
                        "mAP": f"{line['mean']:.1f} ± {line['std']:.1f}", "ΔmAP [95% CI]": P.format_paired(line),
                        "top-1": f"{t['mean']:.1f} ± {t['std']:.1f}", "Δtop-1 [95% CI]": P.format_paired(t),
                        "adds": f"{m['sia_ratio']:.3f}" if m else "", "self S": f"{m['self_S']:.2f}" if m else ""})
    return out


NOTES = """\
Reading: each Δ is the mean over seeds of (row - baseline), paired by seed, with its 95 % Student-t
interval; an interval that contains 0 means this scale cannot tell the row from the baseline.
'adds' is the median over seeds of ||BN(E)||/||F|| of the stage-3 SIA block and 'self S' the
median weight that a cell of its S keeps for itself, on 16 held-out people
(`ianet_viz.course.mechanism_report`): whether the block that the row changes does anything.
Protocol differences from the paper are listed in `ianet_viz/course/protocols.py`: synthetic
pedestrians, ResNet-18 from random init at 128x64 for 6 epochs (the stage-3 map is 8x4 cells, so a
sigma of s cells here covers the share of the person that 2s covers on the paper's 16x8 map), and
the demo model's mechanism (cosine relation, geometric-mean fusion, gates from 0.1); the paper's
product fusion is the 'prod (paper)' row of Tab. 4b."""


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default=None, help="comma list (default: ianet_viz.course.protocols.PROTOCOL_SEEDS)")
    p.add_argument("--part", default="0/1", help="K/N: train only every N-th run, starting at K")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write", action="store_true", help="write results/protocols.csv and the RESULTS.md section")
    args = p.parse_args(argv)
    import torch

    from ianet_viz.course import protocols as P
    from ianet_viz.course import run_sweep

    torch.set_num_threads(args.threads)
    seeds = P.PROTOCOL_SEEDS if args.seeds is None else tuple(int(s) for s in args.seeds.split(","))
    k, n = (int(v) for v in args.part.split("/"))
    runs = P.all_runs()
    jobs = [(label, seed) for seed in seeds for label in runs]  # seed-major: pairs complete early
    rows = []
    for label, seed in jobs[k::n]:  # part k of n: every n-th job
        rows += run_sweep({label: runs[label]}, seeds=(seed,), scale="cpu", name=P.RUN_NAME, resume=True)
    if n > 1:
        return rows
    mech = P.mechanism_rows(rows)
    table = summary(rows, mech)
    print(format_table(table))
    if args.write:
        by_run = {(m["config"], m["seed"]): m for m in mech}
        write_csv(RESULTS_DIR / CSV_NAME, [{**r, **by_run.get((r["config"], r["seed"]), {})} for r in rows])
        cmd = command_line("benchmarks.protocols", argv)
        update_results("protocols", section("protocols: Fig. 7 and Tab. 4a-c with one SIA block after stage 3",
                                            cmd, describe_device("cpu"), format_table(table, markdown=True), NOTES))
    return table


if __name__ == "__main__":
    main()
