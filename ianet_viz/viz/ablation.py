"""Ablations drawn as what they measure: each configuration's paired difference to the baseline with
its 95 % confidence interval (lines of :func:`ianet_viz.course.protocols.difference_table`).

A bar chart of means invites reading differences that the seeds cannot support. Here the baseline is
the zero line, every row is a dot at its mean difference, and the bar around it is the interval:
a bar that crosses zero is a row this scale cannot tell from the baseline.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np

from .figures import paper_marker
from .style import new_figure, paper_title, viz_style

_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
_METRICS = (("mAP", "Δ mAP (points)"), ("rank1", "Δ top-1 (points)"))


def _ci(line: Mapping) -> tuple:
    """(mean difference, lower error, upper error); NaN-free for one seed (no bar)."""
    lo, hi = line.get("lo", float("nan")), line.get("hi", float("nan"))
    if math.isnan(lo) or math.isnan(hi):
        return line["diff"], 0.0, 0.0
    return line["diff"], line["diff"] - lo, hi - line["diff"]


def plot_sigma_differences(series: Mapping[str, Mapping[str, Sequence[Mapping]]], xs: Mapping[str, float],
                           figure: str = "Fig. 7", title: str = "", paper_sigma1: Optional[float] = None,
                           paper_label: Optional[str] = None, paper_note: str = ""):
    """Fig. 7 as differences to the baseline: one panel per metric (mAP, top-1), x = sigma1 (log
    scale), one line per series, each point its mean paired difference with a 95 % CI bar.

    ``series``: ``{name: {"mAP": lines, "rank1": lines}}`` (difference-table lines, baseline line
    allowed and skipped); ``xs``: ``{row shown: sigma1}``. ``paper_sigma1``: the paper's choice on
    this axis (5 cells at the paper's 256 x 128 input; ``ianet_viz.stage_sigma(3, input_size=...)[0]``
    at another input), a dashed line labelled ``paper_label``; ``paper_note``: a line under the
    figure, e.g. what the paper reports there.
    """
    fig = new_figure(figsize=(8.4, 3.4 if paper_note else 3.2))
    with viz_style():
        axes = fig.subplots(1, 2)
        for ax, (metric, label) in zip(axes, _METRICS):
            ax.axhline(0.0, color="#595959", linewidth=1)
            for k, (name, by_metric) in enumerate(series.items()):
                pts = sorted((xs[ln["row"]], *_ci(ln)) for ln in by_metric[metric] if "diff" in ln and ln["row"] in xs)
                if not pts:
                    continue
                x, y, lo, hi = (np.array(v) for v in zip(*pts))
                x = x * (1.0 + 0.04 * (k - (len(series) - 1) / 2))  # side by side, not on top of each other
                ax.errorbar(x, y, yerr=[lo, hi], color=_COLORS[k % len(_COLORS)], marker="o", markersize=4,
                            capsize=3, linewidth=1.4, label=name)
            ax.set_xscale("log")
            ticks = sorted(set(xs.values()))
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
            if paper_sigma1 is not None and min(ticks) <= paper_sigma1 <= max(ticks):
                paper_marker(ax, paper_sigma1, paper_label)
            ax.set_xlabel(r"$\sigma_1$ (cells of the stage-3 map, $\sigma_2 = 2\sigma_1$)")
            ax.set_ylabel(label)
            ax.set_title(f"{label.split(' (')[0]} against the baseline (0), 95 % CI")
        axes[0].legend(loc="best")
        paper_title(fig, figure, title or "accuracy against the location prior's width")
        if paper_note:
            fig.text(0.5, 0.01, paper_note, ha="center", va="bottom", fontsize=7.5, color="#404040")
        fig.tight_layout(rect=(0, 0.06 if paper_note else 0, 1, 1))
    return fig


def plot_difference_tables(tables: Mapping[str, Mapping[str, Sequence[Mapping]]], figure: str = "Tab. 4",
                           title: str = "", highlight: Sequence[str] = ()):
    """Tab. 4-style ablations: one column per table, one row per metric; every configuration is a
    dot at its mean paired difference to the baseline with its 95 % CI bar; rows in ``highlight``
    are drawn dark. ``tables``: ``{table title: {"mAP": lines, "rank1": lines}}``."""
    names = list(tables)
    fig = new_figure(figsize=(max(3.1 * len(names), 7.0), 5.2))
    with viz_style():
        axes = fig.subplots(2, len(names), squeeze=False, sharex="row")  # one scale per metric
        for c, name in enumerate(names):
            for r, (metric, label) in enumerate(_METRICS):
                ax = axes[r, c]
                lines = [ln for ln in tables[name][metric] if "diff" in ln]
                ys = np.arange(len(lines))[::-1]
                ax.axvline(0.0, color="#595959", linewidth=1)
                for y, ln in zip(ys, lines):
                    d, lo, hi = _ci(ln)
                    color = "#0072B2" if ln["row"] in highlight else "#7fb2d9"
                    ax.errorbar([d], [y], xerr=[[lo], [hi]], color=color, marker="o", markersize=5, capsize=3)
                ax.set_yticks(ys, [ln["row"] for ln in lines])
                ax.set_ylim(-0.7, len(lines) - 0.3)
                ax.set_xlabel(label)
                if r == 0:
                    ax.set_title(name, fontsize=9)
        paper_title(fig, figure, title or "rows against the baseline (0), mean paired difference and 95 % CI")
        fig.tight_layout()
    return fig



def plot_sweep_bars(results: Mapping[str, Sequence[Mapping]], highlight: Sequence[str] = (), title: str = ""):
    """One column per table of a committed sweep (``{table: rows with <metric>_mean, _std, _values}``):
    bars of top-1 and mAP (mean over seeds, one sample standard deviation), a dot per seed; the rows in
    ``highlight`` (the paper's choices) dark."""
    import matplotlib.pyplot as plt

    tables = [t for t in results if results[t]]
    fig, axes = plt.subplots(2, len(tables), figsize=(2.7 * len(tables), 5.4), squeeze=False)
    for c, table in enumerate(tables):
        stats = results[table]
        xs = np.arange(len(stats))
        for r, (key, label) in enumerate((("rank1", "top-1 (%)"), ("mAP", "mAP (%)"))):
            ax = axes[r, c]
            colors = ["#0072B2" if s["config"] in highlight else "#9ecae1" for s in stats]
            ax.bar(xs, [s[f"{key}_mean"] for s in stats], yerr=[s[f"{key}_std"] for s in stats], color=colors,
                   capsize=3)
            for x, s in zip(xs, stats):
                ax.scatter(np.full(len(s[f"{key}_values"]), x), s[f"{key}_values"], s=9, color="k", zorder=3)
            ax.set_xticks(xs, [s["config"] for s in stats], rotation=30, ha="right", fontsize=8)
            ax.set_ylabel(label, fontsize=8)
            if r == 0:
                ax.set_title(f"Tab. {table}", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
