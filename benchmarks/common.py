"""Shared helpers of the benchmarks: interleaved timing, medians and ratios, the device string,
tables, and the per-script sections of ``benchmarks/RESULTS.md``.

Timing on a shared machine. Other processes steal cores at random moments, so two variants timed
one after the other can differ by 2x for no reason of their own. :func:`interleaved` therefore
runs the variants round-robin (A B C, then B C A, ...: the order rotates so no variant always
follows the same neighbour), and :func:`paired_ratio` takes the median over rounds of the
*per-round* ratio A_r / B_r: a slow moment slows both members of a round, and the median drops
the rounds where it did not.

On the CPU the scripts default to ``--clock cpu --threads 1``: one intra-op thread, timed by the
CPU time of the process. Time spent waiting for a core while other jobs run is then not counted;
on the 2-core machine shared by several jobs that these were developed on, wall-clock ratios of
the same pair spread over 0.6-1.5x, CPU-time ratios over a few percent. ``--clock wall`` (and
``--threads N``) measures wall-clock time instead, e.g. on a quiet machine.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import os
import platform
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"
RESULTS_DIR = BENCH_DIR / "results"

RESULTS_HEADER = """# ianet_viz benchmark and experiment results

Every figure below sits next to the exact command that produced it, the machine it ran on and the
date. The sections between HTML comment markers (BEGIN / END with the section's name) are
refreshed by `python -m benchmarks.NAME --write`; text outside them (this header, the summary) is kept.

How things were timed. The CPU machine is a 2-core VM shared with several other jobs (load average
4-9 during these runs), so wall-clock times there are noisy: the same pair of variants gave
wall-clock ratios anywhere in 0.6-1.5. Timings are therefore **ratios of interleaved runs**
(variants run round-robin, the median over rounds of the per-round ratio, with [min, max] of the
per-round ratios shown), measured by default as **CPU time of the process with one torch thread**
(`--clock cpu --threads 1`): time spent waiting for a core is then not counted, and the spread of
a ratio drops to a few percent. `--clock wall --threads N` measures wall-clock time instead (use it
on a quiet machine). Absolute times always name the device; none of this is a timed test.
"""


# ------------------------------------------------------------------------------------------ timing
def sync(device: Optional[str] = None) -> None:
    """Wait for queued CUDA work (no-op on CPU), so a timer measures the work and not the launch."""
    try:
        import torch

        if torch.cuda.is_available() and (device is None or str(device).startswith("cuda")):
            torch.cuda.synchronize()
    except ImportError:  # pragma: no cover
        pass


CLOCKS = ("wall", "cpu")


def _clock(clock: str) -> Callable[[], float]:
    if clock == "wall":
        return time.perf_counter
    if clock == "cpu":
        return time.process_time
    raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")


def time_call(fn: Callable[[], object], device: Optional[str] = None, clock: str = "wall") -> float:
    """Seconds one call of ``fn`` takes (synchronising CUDA before and after).

    ``clock="cpu"`` counts the CPU time of this process (``time.process_time``) instead of wall
    time: time spent descheduled while other jobs run is not counted, which makes CPU timings on a
    shared machine far steadier. It is only meaningful with one intra-op thread (``--threads 1``):
    with more, OpenMP threads spinning at barriers count as CPU time.
    """
    now = _clock(clock)
    sync(device)
    t0 = now()
    fn()
    sync(device)
    return now() - t0


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    repeats: int = 7,
    warmup: int = 1,
    device: Optional[str] = None,
    clock: str = "wall",
) -> Dict[str, List[float]]:
    """Time every variant ``repeats`` times, round-robin with a rotating order.

    Returns ``{name: [seconds per round]}``; round r of every list was measured in the same round,
    so ``times[a][r] / times[b][r]`` is a paired ratio. ``warmup`` untimed rounds run first.
    ``clock``: "wall" or "cpu" (see :func:`time_call`).
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    sync(device)
    out: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            out[n].append(time_call(fns[n], device, clock))
    return out


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of ``a[r] / b[r]`` (see the module docstring)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired_ratio needs two equally long, non-empty lists of times")
    return median([x / y for x, y in zip(a, b)])


def ratio_spread(a: Sequence[float], b: Sequence[float]) -> str:
    """``"median [min, max]"`` of the per-round ratios, to show how noisy a ratio was."""
    rs = sorted(x / y for x, y in zip(a, b))
    return f"{median(rs):.3f} [{rs[0]:.2f}, {rs[-1]:.2f}]"


# ------------------------------------------------------------------------------------------ device
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device: Optional[str] = None) -> str:
    """One line naming what the numbers were measured on: CPU model, cores, load, torch, threads,
    and the GPU when ``device`` is a CUDA device."""
    parts = []
    try:
        import torch

        if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
            idx = torch.device(device).index or 0
            p = torch.cuda.get_device_properties(idx)
            parts.append(f"GPU {p.name} ({p.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}")
        isa = torch.backends.cpu.get_cpu_capability()  # the vector ISA torch's CPU kernels dispatch to
        torch_part = f"torch {torch.__version__}, ISA {isa}, {torch.get_num_threads()} threads"
    except ImportError:  # pragma: no cover
        torch_part = "torch not importable"
    try:
        load = ", load avg %.1f" % os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load = ""
    parts.append(f"CPU {_cpu_model()} x{os.cpu_count()} cores{load}")
    parts.append(torch_part)
    parts.append(f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    return "; ".join(parts)


@contextlib.contextmanager
def subnormals_kept():
    """Within: relation maps as torch's softmax leaves them, subnormal weights included (the twin of
    :func:`ianet_viz.functional.without_subnormals`, for a before/after measured in one run)."""
    from ianet_viz import basics, functional

    keep = basics.without_subnormals
    for module in (basics, functional):  # basics' softmax and functional's own maps
        module.without_subnormals = lambda p, inplace=False: p
    try:
        yield
    finally:
        for module in (basics, functional):
            module.without_subnormals = keep


@contextlib.contextmanager
def whole_tensor_sia():
    """Within: SIA's inference takes the whole-tensor path, never the slabs of query rows (the twin of
    :func:`ianet_viz.kernels.sia_by_query_rows`, for a before/after measured in one run)."""
    from ianet_viz import functional as Fn

    keep = Fn.SLAB_MIN_BYTES
    Fn.SLAB_MIN_BYTES = float("inf")
    try:
        yield
    finally:
        Fn.SLAB_MIN_BYTES = keep


def subnormal_share(t) -> float:
    """Share of the entries of ``t`` that are subnormal (nonzero, below the smallest normal float)."""
    import torch

    tiny = torch.finfo(t.dtype).tiny
    return float(((t != 0) & (t.abs() < tiny)).float().mean())


def map_subnormal_shares(model, x) -> Dict[str, float]:
    """``{"<block>/<map>": share}``: the subnormal share of every relation map of ``model`` on ``x``,
    as torch's softmax leaves them (what :func:`ianet_viz.functional.without_subnormals` zeroes)."""
    import torch

    from ianet_viz.recorder import RelationRecorder

    with subnormals_kept(), RelationRecorder(model) as rec, torch.no_grad():
        model(x)
    return {f"{b}/{k}": subnormal_share(m) for b, maps in rec.maps.items() for k, m in maps.items()
            if k != "cia_out"}


def today() -> str:
    return _dt.date.today().isoformat()


# ------------------------------------------------------------------------------------------ CLI
def make_parser(description: str, timing: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: proves the script runs (seconds)")
    p.add_argument("--write", action="store_true", help="refresh this script's section of benchmarks/RESULTS.md")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (median over them); default per script")
    if timing:
        p.add_argument("--clock", choices=CLOCKS, default="cpu",
                       help="cpu (default): process CPU time, steady on a shared machine, use with --threads 1; "
                            "wall: wall-clock time")
        p.add_argument("--threads", type=int, default=None,
                       help="torch intra-op threads (default: 1 with --clock cpu, else torch's default)")
    return p


def apply_threads(args) -> str:
    """Set torch's thread count from ``--threads``/``--clock``; returns a description for the report."""
    import torch

    threads = args.threads if args.threads is not None else (1 if args.clock == "cpu" else None)
    if threads is not None:
        torch.set_num_threads(threads)
    what = "CPU time of the process" if args.clock == "cpu" else "wall-clock time"
    return f"{what}, {torch.get_num_threads()} torch thread(s)"


def command_line(module: str, argv: Optional[Sequence[str]]) -> str:
    """The command to put next to a figure: ``python -m benchmarks.NAME <args>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python -m", module] + [shlex.quote(a) for a in args])


# ------------------------------------------------------------------------------------------ tables
def _fmt(v) -> str:
    if isinstance(v, float):
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}" if abs(v) < 10 else f"{v:.1f}"
        return f"{v:.3e}"
    return str(v)


def format_table(rows: Sequence[Mapping], columns: Optional[Sequence[str]] = None, markdown: bool = False) -> str:
    """Rows (dicts) as an aligned text table, or a GitHub markdown table."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ RESULTS.md
def _markers(name: str):
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def update_results(name: str, body: str, path: Optional[Path] = None) -> Path:
    """Replace (or append) the section ``name`` of RESULTS.md, delimited by HTML comment markers."""
    path = Path(path) if path is not None else RESULTS_MD  # looked up at call time (tests redirect it)
    begin, end = _markers(name)
    text = path.read_text() if path.exists() else RESULTS_HEADER
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def section(title: str, command: str, device: str, body: str, notes: str = "") -> str:
    """The standard layout of a RESULTS.md section: title, command, machine, date, table, notes."""
    out = [f"## {title}", "", "```", command, "```", "", f"Machine: {device}. Date: {today()}.", "", body.strip()]
    if notes:
        out += ["", notes.strip()]
    return "\n".join(out)


def read_csv(path: Path) -> List[Dict[str, str]]:
    """The rows of a results CSV (``[]`` when it does not exist yet)."""
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: Sequence[Mapping], fields: Optional[Sequence[str]] = None) -> None:
    """Write ``rows`` atomically (a temporary file, then a rename): a run killed mid-write leaves the
    old file. ``fields``: the columns (default: every key, in order of first appearance)."""
    if fields is None:
        fields = []
        for r in rows:
            fields += [k for k in r if k not in fields]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    os.replace(tmp, path)

