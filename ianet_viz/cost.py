"""Cost report: multiply-adds (MACs) and parameters per block, measured with torch's FLOP counter.

``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of matrix products and convolutions
(2 per multiply-add), attributed to every module on the call stack; MACs = FLOPs / 2. Softmax,
shifted sums and other element-wise work are not counted, as in the paper's 4.06 G / 4.09 G.
The fused CIA kernel (``scaled_dot_product_attention``, CPU flavour) is counted like its GPU
twins: the same two matrix products, so the count does not depend on which path ran.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _sdpa_cpu_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of softmax(Q K^T) V from the shapes (the counter passes shapes, not tensors)."""
    return sdpa_flop_count(query, key, value)


# torch registers the CUDA attention kernels with the FLOP counter but not the CPU one
_EXTRA_FORMULAS = {
    op: _sdpa_cpu_flops
    for op in (getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None),)
    if op is not None
}


def _rows_for(model: nn.Module) -> List[Tuple[str, str]]:
    """(label, module path) of the parts worth reporting: stem, the four stages, IA blocks, head."""
    paths = dict(model.named_modules())
    rows = []
    if "backbone" in paths:
        rows += [("stem", "backbone.conv1")] + [(f"stage{i}", f"backbone.layer{i}") for i in range(1, 5)]
    rows += [(f"IA {m.block_name}", p) for p, m in paths.items() if type(m).__name__ == "IABlock"]
    rows += [(label, p) for label, p in (("neck", "neck"), ("classifier", "classifier")) if p in paths]
    return rows


def flop_counter() -> FlopCounterMode:
    """torch's ``FlopCounterMode`` (no printing) that also counts the CPU attention kernel."""
    return FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)


@torch.no_grad()
def cost_report(model: nn.Module, input_size=(256, 128), batch: int = 1, in_channels: int = 3) -> List[Dict]:
    """MACs (per image) and parameters for each part of ``model``; the last row is the total.

    ``in_channels`` is 3 for a network on images; a bare block takes its feature channels.

    Returns a list of dicts ``{"part", "gmacs", "params_m"}`` (GMac and millions of parameters).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.zeros(batch, in_channels, *input_size, device=device)
    counter = flop_counter()
    try:
        with counter:
            model(x)
    finally:
        model.train(was_training)
    flops = counter.get_flop_counts()
    root = type(model).__name__
    modules = dict(model.named_modules())

    def total(path: str) -> int:
        # a module that was called has its own entry (children included); a container whose
        # children are called one by one (the stages in IANet.feature_map) is the sum of them
        key = f"{root}.{path}" if path else root
        if key in flops:
            return sum(flops[key].values())
        return sum(total(f"{path}.{name}" if path else name) for name, _ in modules[path].named_children())

    out = []
    for label, path in _rows_for(model):
        params = sum(p.numel() for p in modules[path].parameters())
        out.append({"part": label, "gmacs": total(path) / 2 / batch / 1e9, "params_m": params / 1e6})
    if "backbone.conv1" in modules:  # the stem row is conv1 + bn1 + maxpool; bn1 carries parameters too
        out[0]["params_m"] += sum(p.numel() for p in modules["backbone.bn1"].parameters()) / 1e6
    out.append({
        "part": "total",
        "gmacs": sum(sum(v.values()) for k, v in flops.items() if k == "Global") / 2 / batch / 1e9,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    })
    return out


def format_cost_table(rows: List[Dict]) -> str:
    """The report as an aligned text table."""
    lines = [f"{'part':<16}{'GMac':>10}{'params (M)':>12}"]
    lines += [f"{r['part']:<16}{r['gmacs']:>10.3f}{r['params_m']:>12.3f}" for r in rows]
    return "\n".join(lines)
