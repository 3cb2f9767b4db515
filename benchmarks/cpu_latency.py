"""CPU latency: forward time of IANet ÷ baseline, set against their MAC ratio, and where the excess goes.

Both ResNet-50 (last stride 1, 256x128, eval mode, no grad) models run interleaved (median of the
per-round ratios, see ``benchmarks.common``). The multiply-add ratio comes from
``ianet_viz.cost.cost_report``. Target: time ratio <= 1.05 x MAC ratio; the excess is time
spent outside the counted multiply-adds (softmax passes, shifted sums, copies, layout).

Where it goes: forward hooks time each IA block inside the full forward, and ``torch.profiler``
splits the IA blocks' self time by operator group (matrix products, softmax/exp/log, shifted sums
and other element-wise adds, copies/fills/stack, batch norm, rest).

    python -m benchmarks.cpu_latency [--quick] [--write] [--batch 8] [--repeats 7]
"""
from __future__ import annotations

from pathlib import Path

import os
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import torch

from benchmarks.common import (
    apply_threads, command_line, describe_device, format_table, interleaved, make_parser, map_subnormal_shares, median,
    paired_ratio, ratio_spread, section, subnormals_kept, update_results, whole_tensor_sia,
)

TARGET = 1.05
#: IANet with its maps' subnormal weights left in: what the forward cost before
#: ``functional.without_subnormals`` (on cores that compute subnormals slowly, far more)
KEPT = "IANet, subnormals kept"
#: IANet with SIA's inference on the whole B x M x M tensor: what the forward cost before the slabs of
#: query rows (``kernels.sia_by_query_rows``)
WHOLE = "IANet, whole-tensor SIA"

#: operator name -> group, for the profile of the IA blocks
GROUPS = [
    ("matmul", ("aten::bmm", "aten::mm", "aten::matmul", "aten::addmm", "aten::baddbmm", "aten::mkldnn_convolution",
                "aten::convolution", "aten::scaled_dot_product_attention",
                "aten::_scaled_dot_product_flash_attention_for_cpu")),  # fused CIA: products + softmax
    ("softmax/exp/log", ("aten::_softmax", "aten::_log_softmax", "aten::exp", "aten::log", "aten::logsumexp",
                         "aten::clamp_min", "aten::amax", "aten::max")),
    ("adds (shifted sums, fusion)", ("aten::add", "aten::add_", "aten::sum", "aten::mul", "aten::mul_", "aten::div",
                                     "aten::sub")),
    ("copies/fills/stack", ("aten::copy_", "aten::clone", "aten::cat", "aten::stack", "aten::fill_", "aten::zero_",
                            "aten::zeros", "aten::new_zeros", "aten::contiguous", "aten::_to_copy", "aten::expand")),
    ("batch norm", ("aten::native_batch_norm", "aten::_native_batch_norm_legit_no_training", "aten::batch_norm")),
]


def group_of(op: str) -> str:
    for g, names in GROUPS:
        if op in names:
            return g
    return "other"


def build(quick: bool, backbone: Optional[str] = None):
    from ianet_viz import build_ianet

    backbone = backbone or ("resnet18" if quick else "resnet50")
    torch.manual_seed(0)
    models = {
        "baseline": build_ianet(backbone, num_classes=751, ia_stages=()),
        "+SIA stage3": build_ianet(backbone, num_classes=751, ia_stages=(3,), arrangement="sia"),
        "IANet": build_ianet(backbone, num_classes=751, ia_stages=(2, 3), arrangement="sia+cia"),
    }
    # same backbone weights everywhere (the IA blocks are the identity at init: outputs agree)
    state = models["baseline"].state_dict()
    for m in models.values():
        m.load_state_dict(state, strict=False)
        m.eval()
    return backbone, models


def macs(models, input_size) -> Dict[str, Dict]:
    from ianet_viz.cost import cost_report

    out = {}
    for name, m in models.items():
        rows = cost_report(m, input_size=input_size)
        out[name] = {"total": rows[-1]["gmacs"], "ia": sum(r["gmacs"] for r in rows if r["part"].startswith("IA "))}
    return out


def ia_block_times(model, x, repeats: int, clock: str = "wall") -> Dict[str, float]:
    """Median seconds spent in each IA block during full forward passes (forward hooks)."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    times: Dict[str, List[float]] = defaultdict(list)
    handles = []
    start: Dict[str, float] = {}
    for name, blk in model.ia_blocks.items():
        handles.append(blk.register_forward_pre_hook(lambda m, i, name=name: start.__setitem__(name, now())))
        handles.append(blk.register_forward_hook(
            lambda m, i, o, name=name: times[name].append(now() - start[name])))
    t_total = []
    try:
        with torch.no_grad():
            for _ in range(repeats):
                t0 = now()
                model(x)
                t_total.append(now() - t0)
    finally:
        for h in handles:
            h.remove()
    out = {k: median(v) for k, v in times.items()}
    out["total"] = median(t_total)
    return out


def ia_op_profile(model, x, block_ms: Optional[Dict[str, float]] = None) -> List[Dict]:
    """Shares of the IA blocks' operator time by group (torch.profiler self time).

    The profiler's per-operator times are wall-clock, so on a busy machine only their shares are
    trusted; with ``block_ms`` (each block's CPU time from the hooks) the shares are turned into ms.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    from ianet_viz.recorder import sia_inputs

    inputs = sia_inputs(model, x)  # the input of each IA block (its SIA comes first: "sia+cia")
    rows = []
    with torch.no_grad():
        for name, blk in model.ia_blocks.items():
            f = inputs[name]
            blk(f)  # warm
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(3):
                    with record_function("ia_block"):
                        blk(f)
            groups: Dict[str, float] = defaultdict(float)
            for ev in prof.key_averages():
                if ev.key == "ia_block":
                    continue
                groups[group_of(ev.key)] += ev.self_cpu_time_total / 3 / 1e3  # ms per call
            total = sum(groups.values())
            ms = block_ms[name] if block_ms and name in block_ms else total
            row = {"block": name, "input": "x".join(map(str, f.shape)), "block ms": ms}
            for g, _ in GROUPS + [("other", ())]:
                share = groups.get(g, 0.0) / max(total, 1e-9)
                row[g] = f"{100 * share:.0f}% ({share * ms:.1f})"
            rows.append(row)
    return rows


def cpu_vendor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return "unknown"


def blas_check(repeats: int = 5, clock: str = "cpu") -> Dict[str, float]:
    """ms per GMac of a batched GEMM (BLAS: what the IA blocks run) and a 3x3 convolution (oneDNN:
    most of the backbone), measured side by side. MKL picks a generic code path on non-Intel CPUs,
    so on AMD the first is far slower per MAC than the second while the IA code is not at fault."""
    import torch.nn.functional as F

    torch.manual_seed(2)
    x = torch.randn(8, 512, 512)
    inp, w = torch.randn(8, 256, 32, 16), torch.randn(256, 256, 3, 3)
    gmac = {"bmm": 8 * 512 ** 3 / 1e9, "conv3x3": 8 * 256 * 256 * 9 * 32 * 16 / 1e9}

    def bmm():
        torch.bmm(x.transpose(1, 2), x)

    def conv():
        F.conv2d(inp, w, padding=1)

    with torch.no_grad():
        t = interleaved({"bmm": bmm, "conv3x3": conv}, repeats=repeats, warmup=1, clock=clock)
    return {k: 1e3 * median(v) / gmac[k] for k, v in t.items()}


def run(quick: bool = False, batch: Optional[int] = None, repeats: Optional[int] = None, profile: bool = True,
        clock: str = "cpu") -> Dict:
    batch = batch or (2 if quick else 8)
    repeats = repeats or (5 if quick else 7)
    input_size = (64, 32) if quick else (256, 128)
    backbone, models = build(quick)
    cost = macs(models, input_size)
    torch.manual_seed(1)
    x = torch.randn(batch, 3, *input_size)

    def fwd(m):
        def f():
            with torch.no_grad():
                m(x)
        return f

    def within(context, fn):  # the same forward in a before-the-fix context
        def f():
            with context():
                fn()
        return f

    variants = {k: fwd(m) for k, m in models.items()}
    variants[KEPT] = within(subnormals_kept, fwd(models["IANet"]))
    variants[WHOLE] = within(whole_tensor_sia, fwd(models["IANet"]))
    times = interleaved(variants, repeats=repeats, warmup=1, clock=clock)
    rows = []
    for name in variants:
        mac_ratio = cost[name if name in cost else "IANet"]["total"] / cost["baseline"]["total"]
        gmac = cost[name if name in cost else "IANet"]["total"]
        t_ratio = paired_ratio(times[name], times["baseline"])
        rows.append({
            "model": name,
            "median ms": 1e3 * median(times[name]),
            "GMac/img": gmac,
            "MAC ratio": mac_ratio,
            "time ratio [min,max]": ratio_spread(times[name], times["baseline"]),
            "time/MAC ratio": t_ratio / mac_ratio,
            "target <=1.05": "met" if t_ratio <= TARGET * mac_ratio else "MISSED",
        })
    out = {"backbone": backbone, "batch": batch, "repeats": repeats, "input_size": input_size, "rows": rows,
           "times": times, "cost": cost, "subnormal": map_subnormal_shares(models["IANet"], x)}
    if profile:
        ianet = models["IANet"]
        blk = ia_block_times(ianet, x, max(3, repeats // 2), clock)
        t_base = median(times["baseline"])
        ia_t = sum(v for k, v in blk.items() if k != "total")
        ia_mac = cost["IANet"]["ia"]
        base_mac = cost["baseline"]["total"]
        # ms per GMac inside the IA blocks vs in the rest of the network
        out["share"] = {
            "ia_ms": 1e3 * ia_t, "total_ms": 1e3 * blk["total"], "per_block_ms": {k: 1e3 * v for k, v in blk.items()},
            "ia_ms_per_gmac": 1e3 * ia_t / (ia_mac * batch),
            "backbone_ms_per_gmac": 1e3 * t_base / (base_mac * batch),
        }
        out["blas"] = blas_check(clock=clock)
        out["profile"] = ia_op_profile(ianet, x, {k: 1e3 * v for k, v in blk.items() if k != "total"})
        t_ia = median(times["IANet"])
        extra = t_ia - t_base
        mac_s = ia_mac * batch * t_base / (base_mac * batch)
        mac_ratio = cost["IANet"]["total"] / base_mac
        out["excess"] = {"extra_ms": 1e3 * extra, "ia_gmac": ia_mac * batch, "mac_ms": 1e3 * mac_s,
                         "excess_ms": 1e3 * (extra - mac_s), "excess_share": (extra - mac_s) / t_ia,
                         "allowed_share": 1 - 1 / TARGET}
    return out


def report(out: Dict) -> str:
    lines = [f"{out['backbone']}, batch {out['batch']}, {out['input_size'][0]}x{out['input_size'][1]}, "
             f"eval + no_grad, {out['repeats']} interleaved rounds, {out.get('timing', '')}", format_table(out["rows"]),
             "subnormal share of each IANet map as torch's softmax leaves it (zeroed by without_subnormals): "
             + ", ".join(f"{k} {100 * v:.2f}%" for k, v in out["subnormal"].items())]
    if "share" in out:
        s = out["share"]
        lines.append("")
        lines.append("IA blocks inside the IANet forward (hooks, median): " + ", ".join(
            f"{k} {v:.0f} ms" for k, v in s["per_block_ms"].items()))
        lines.append(f"time per GMac: IA blocks {s['ia_ms_per_gmac']:.1f} ms/GMac vs baseline network "
                     f"{s['backbone_ms_per_gmac']:.1f} ms/GMac "
                     f"({s['ia_ms_per_gmac'] / s['backbone_ms_per_gmac']:.2f}x)")
        e = out["excess"]
        lines.append(f"IANet - baseline = {e['extra_ms']:.0f} ms per batch; the IA blocks' {e['ia_gmac']:.2f} GMac at the "
                     f"baseline's rate would take {e['mac_ms']:.0f} ms; excess {e['excess_ms']:.0f} ms "
                     f"= {100 * e['excess_share']:.1f}% of the IANet forward (the 1.05 target allows "
                     f"{100 * e['allowed_share']:.1f}%)")
        b = out["blas"]
        lines.append(f"GEMM vs convolution on this CPU ({cpu_vendor()}, BLAS: "
                     f"{'MKL' if torch.backends.mkl.is_available() else 'not MKL'}"
                     f"{', LD_PRELOAD=' + os.environ['LD_PRELOAD'] if os.environ.get('LD_PRELOAD') else ''}): "
                     f"bmm 8x512x512x512 {b['bmm']:.1f} ms/GMac, 3x3 conv 8x256x32x16 {b['conv3x3']:.1f} ms/GMac")
        lines.append("")
        lines.append("inside each IA block, share of operator time by group (torch.profiler) and, in brackets, that "
                     "share of the block's time from the hooks (ms per batch):")
        lines.append(format_table(out["profile"]))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    p = make_parser(__doc__.splitlines()[0], timing=True)
    p.add_argument("--batch", type=int, default=None, help="batch size (default 8; 2 with --quick)")
    p.add_argument("--no-profile", action="store_true", help="skip the hook timing and torch.profiler breakdown")
    p.add_argument("--tag", default="", help="write to the RESULTS.md section cpu_latency_TAG (e.g. a BLAS variant)")
    args = p.parse_args(argv)
    timing = apply_threads(args)
    out = run(quick=args.quick, batch=args.batch, repeats=args.repeats, profile=not args.no_profile, clock=args.clock)
    out["timing"] = timing
    text = report(out)
    print(text)
    if args.write:
        body = "```\n" + text + "\n```"
        name = f"cpu_latency_{args.tag}" if args.tag else "cpu_latency"
        title = "cpu_latency: IANet ÷ baseline forward time vs MAC ratio" + (f" ({args.tag})" if args.tag else "")
        cmd = command_line("benchmarks.cpu_latency", argv)
        if "libmkl_intel_path" in os.environ.get("LD_PRELOAD", ""):
            cmd = "bash tools/mkl_intel_path.sh " + cmd  # the run went through the MKL shim
        update_results(name, section(title,
                                              cmd, describe_device(), body,
                                              out.get("notes", "")))
    return out


if __name__ == "__main__":
    main()
