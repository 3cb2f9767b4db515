"""Deciding with statistics: the mean paired difference between two configurations trained with
the same seeds, and its 95 % confidence interval (Student's t), as issue-style ablations report it.

Pairing by seed removes what the seed does to both runs (initialisation, batch order), so the
interval is about the configuration, not the luck of one seed. An interval above zero is evidence
that the configuration helps at this scale; one that straddles zero is not.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

import numpy as np

# two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (no scipy dependency);
# beyond 30 the normal quantile 1.96 is within 2 %
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t_quantile_975(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


def paired_ci(a: Sequence[float], b: Sequence[float]) -> Dict[str, float]:
    """``{"n", "mean", "lo", "hi"}``: the mean of ``a[i] - b[i]`` over paired seeds and its 95 %
    confidence interval (``lo``/``hi`` are NaN with a single pair)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise ValueError("paired_ci needs two equally long, non-empty sequences (one value per seed)")
    mean = float(d.mean())
    if d.size == 1:
        return {"n": 1, "mean": mean, "lo": float("nan"), "hi": float("nan")}
    half = t_quantile_975(d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return {"n": int(d.size), "mean": mean, "lo": mean - half, "hi": mean + half}


def paired_table(rows: Sequence[Dict], reference: str = "baseline", metric: str = "mAP",
                 key: str = "config") -> List[Dict]:
    """One line per configuration of ``rows`` (dicts with ``key``, ``"seed"`` and ``metric``):
    ``n``, mean and std of ``metric``, and, for every configuration but ``reference``, the mean
    paired difference to it over their common seeds with its 95 % CI (``diff``, ``lo``, ``hi``)."""
    by: Dict[str, Dict[int, float]] = {}
    for r in rows:
        by.setdefault(str(r[key]), {})[int(r["seed"])] = float(r[metric])
    ref = by.get(reference, {})
    out = []
    for name, runs in by.items():
        vals = np.array([runs[s] for s in sorted(runs)])
        line = {key: name, "n": int(vals.size), "mean": float(vals.mean()),
                "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0}
        common = sorted(set(runs) & set(ref))
        if name != reference and common:
            ci = paired_ci([runs[s] for s in common], [ref[s] for s in common])
            line.update(pairs=ci["n"], diff=ci["mean"], lo=ci["lo"], hi=ci["hi"])
        out.append(line)
    return out


def format_paired(line: Dict, digits: int = 1) -> str:
    """``"+1.2 [-0.3, +2.7]"`` for a line with a paired difference (``diff``, ``pairs``, ``lo``, ``hi``:
    :func:`paired_table`), ``"+1.2 (1 seed)"`` without a CI, ``""`` for the reference's own line.
    ``digits=2`` keeps a CI of [+0.00, +0.09] from printing as [+0.0, +0.1]."""
    if "diff" not in line:
        return ""
    if line["pairs"] < 2:
        return f"{line['diff']:+.{digits}f} (1 seed)"
    return f"{line['diff']:+.{digits}f} [{line['lo']:+.{digits}f}, {line['hi']:+.{digits}f}]"


def column_median(rows: Sequence[Dict], key: str) -> float:
    """The median of ``key`` over ``rows`` (CSV rows: strings), skipping blanks; NaN when none has it."""
    vals = []
    for r in rows:
        try:
            vals.append(float(r.get(key, "")))
        except (TypeError, ValueError):
            pass
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.median(vals)) if vals else math.nan
