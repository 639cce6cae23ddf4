"""PNG plots of evaluation reports, and the one way every report saves a figure.

Functions take the plain JSON-ready dicts the reports hold, so a plot can be
redrawn from a saved report without re-running anything. The Agg backend is
chosen explicitly: evaluations and benchmarks run headless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): the backend must be set first


def save_figure(fig: plt.Figure, path: Path, dpi: int = 120) -> Path:
    """Lay out, write and close ``fig``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_method_bars(
    metrics: Mapping[str, Mapping[str, float]],
    path: Path,
    title: str,
    order: Sequence[str] = (),
) -> Path:
    """Grouped bars: one group per metric, one bar per method.

    ``metrics`` maps metric name → {method: value}; methods a metric does not
    apply to are simply absent from its group. Methods named in ``order`` come
    first, in that order, so every chart lists them the same way.
    """
    seen = dict.fromkeys(m for values in metrics.values() for m in values)
    methods = [m for m in order if m in seen] + [m for m in seen if m not in order]
    names = list(metrics)
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(names) + 2), 4.2))
    for i, method in enumerate(methods):
        xs = [j + i * width for j, name in enumerate(names) if method in metrics[name]]
        ys = [metrics[name][method] for name in names if method in metrics[name]]
        ax.bar(xs, ys, width=width, label=method)
    ax.set_xticks(
        [j + width * (len(methods) - 1) / 2 for j in range(len(names))],
        names,
        rotation=20,
        ha="right",
        fontsize=8,
    )
    ax.set(ylim=(0, 1.05), title=title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return save_figure(fig, path)


def plot_quality_vs_latency(
    points: Sequence[tuple[str, float, float]], path: Path, xlabel: str, ylabel: str, title: str
) -> Path:
    """One labelled point per method: (label, latency in ms, quality)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for label, x, y in points:
        ax.scatter([x], [y])
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 3), fontsize=8)
    ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, title=title, ylim=(0, 1.05))
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)
