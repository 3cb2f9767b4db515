"""The paper's protocols for Fig. 7 and Tab. 4a-c: one SIA block after stage 3, paired seeds, each row
against the baseline with a 95 % CI (definitions and differences from the paper:
``ianet_viz.course.protocols``).

Every run is a ``run_sweep`` run in ``runs/notebooks/protocols/`` (the folder notebooks 05 and 06
read back in full mode); a finished run is never trained twice, an interrupted one resumes.
``--part K/N`` trains every N-th run starting at K, so N processes can share the work; then one
call without ``--part`` (everything is read back) writes the CSV and the RESULTS.md section.

    python -m benchmarks.protocols --part 0/2 &  python -m benchmarks.protocols --part 1/2; wait
    python -m benchmarks.protocols --write

Another setting (``ianet_viz.course.protocols.Setting``) runs the same protocol elsewhere, e.g. on a GPU
machine; its runs go to ``runs/notebooks/protocols-<tag>/``, its CSV to ``results/protocols-<tag>.csv``
(copy that file to the notebooks' machine: 05 and 06 read it back when IANET_MODEL has that setting):

    python -m benchmarks.protocols --dataset market1501 --data-root ~/datasets --backbone resnet50 --size 256x128 --device cuda --num-workers 8 --write
"""
from __future__ import annotations

import argparse
from typing import Dict, List, Optional, Sequence

from benchmarks.common import RESULTS_DIR, command_line, describe_device, format_table, section, update_results, write_csv


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


SETTING_NOTE = """
This sweep ran in another setting than the notes above describe: the dataset, backbone and input size
of its title (``--dataset``, ``--backbone``, ``--size``), with the same protocol, seeds and mechanism;
'adds' and 'self S' were measured on synthetic people at its input size (real data has no part masks)."""


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default=None, help="comma list (default: ianet_viz.course.protocols.PROTOCOL_SEEDS)")
    p.add_argument("--part", default="0/1", help="K/N: train only every N-th run, starting at K")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write", action="store_true",
                   help="write results/protocols[-<setting>].csv and the RESULTS.md section")
    p.add_argument("--dataset", default="synthetic", help="the setting's dataset (default: synthetic pedestrians)")
    p.add_argument("--data-root", default=None, help="where the dataset is (default: IANET_DATA_DIR/<dataset>)")
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--size", default="128x64", help="input HEIGHTxWIDTH, e.g. 256x128")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda, cuda:1")
    p.add_argument("--pretrained", default=None, help="backbone weights: none (default, as the CPU protocol) or imagenet")
    p.add_argument("--epochs", type=int, default=None, help="default: the cpu scale's (6)")
    p.add_argument("--num-workers", type=int, default=None, help="data-loader processes (default 0)")
    args = p.parse_args(argv)
    import torch

    from ianet_viz.course import protocols as P
    from ianet_viz.course import run_sweep

    torch.set_num_threads(args.threads)
    setting = P.Setting(args.dataset, args.backbone, P.parse_size(args.size))
    extra = setting.overrides(data_root=args.data_root, pretrained=args.pretrained, epochs=args.epochs,
                              device=args.device, num_workers=args.num_workers)
    seeds = P.PROTOCOL_SEEDS if args.seeds is None else tuple(int(s) for s in args.seeds.split(","))
    k, n = (int(v) for v in args.part.split("/"))
    runs = P.all_runs()
    jobs = [(label, seed) for seed in seeds for label in runs]  # seed-major: pairs complete early
    rows = []
    for label, seed in jobs[k::n]:  # part k of n: every n-th job
        rows += run_sweep({label: {**extra, **runs[label]}}, seeds=(seed,), scale="cpu", name=setting.run_name(),
                          resume=True)
    if n > 1:
        return rows
    device = "cpu" if args.device == "cpu" or not torch.cuda.is_available() else args.device.replace("auto", "cuda")
    mech = P.mechanism_rows(rows, name=setting.run_name(), setting=setting, device=device)
    table = summary(rows, mech)
    print(format_table(table))
    if args.write:
        by_run = {(m["config"], m["seed"]): m for m in mech}
        about = {"dataset": setting.dataset, "backbone": setting.backbone, "size": args.size,
                 "pretrained": args.pretrained or "none", "device": device}
        write_csv(RESULTS_DIR / setting.csv_name(),
                  [{**r, **by_run.get((r["config"], r["seed"]), {}), **about} for r in rows])
        cmd = command_line("benchmarks.protocols", argv)
        title = "protocols: Fig. 7 and Tab. 4a-c with one SIA block after stage 3"
        update_results(setting.run_name(), section(title if setting.default else f"{title} ({setting.describe()})",
                                                   cmd, describe_device(device), format_table(table, markdown=True),
                                                   NOTES if setting.default else NOTES + SETTING_NOTE))
    return table


if __name__ == "__main__":
    main()
