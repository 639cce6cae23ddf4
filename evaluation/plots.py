"""PNG plots of benchmark and evaluation reports.

Functions take the plain JSON-ready dicts the benchmarks write, so a plot can
be redrawn from a saved report without re-running anything. It lives in
``indexing`` (not ``api``) so both the index benchmarks here and the retrieval
evaluation in ``api`` can use it; it knows nothing of either beyond the dicts.
The Agg backend is chosen explicitly: benchmarks run headless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): the backend must be set first
from matplotlib.ticker import NullFormatter

KIND_STYLE = {"exact": ("tab:gray", "s"), "ivf": ("tab:blue", "o"), "hnsw": ("tab:orange", "^")}


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_latency_vs_size(scaling: Mapping, path: Path) -> Path:
    """p50 single-query latency against index size, with the bandwidth bound for exact.

    Approximate indexes are shown at the setting the benchmark chose (fastest
    one meeting the recall target), labelled with the recall it reached.
    """
    sizes = scaling["sizes"]
    xs = [s["size"] for s in sizes]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for kind, (colour, marker) in KIND_STYLE.items():
        ys = [s["chosen"][kind]["p50_ms"] for s in sizes]
        ax.plot(xs, ys, marker=marker, color=colour, label=kind)
        if kind != "exact":
            for x, s in zip(xs, sizes, strict=True):
                point = s["chosen"][kind]
                ax.annotate(
                    f"R@10 {point['recall_at_k']:.2f}",
                    (x, point["p50_ms"]),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=7,
                    color=colour,
                )
    ax.plot(
        xs,
        [s["exact_bound_ms"] for s in sizes],
        linestyle="--",
        color="black",
        label="exact: memory-bandwidth bound",
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="vectors in the index",
        ylabel="p50 latency per query (ms)",
        title=f"Search latency vs index size (dim {scaling['config']['dim']})",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_recall_vs_latency(scaling: Mapping, path: Path) -> Path:
    """Recall@k against p50 latency for every swept setting, one panel per size."""
    sizes = scaling["sizes"]
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.8), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for kind, (colour, marker) in KIND_STYLE.items():
            points = sorted(
                (p for p in size["points"] if p["kind"] == kind), key=lambda p: p["p50_ms"]
            )
            ax.plot(
                [p["p50_ms"] for p in points],
                [p["recall_at_k"] for p in points],
                marker=marker,
                color=colour,
                label=kind,
            )
        ax.axhline(scaling["config"]["recall_target"], color="black", linestyle=":", linewidth=0.8)
        ax.set(
            xscale="log",
            xlabel="p50 latency (ms)",
            ylabel="recall@10 vs exact",
            title=f"{size['size']:,} vectors",
        )
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)
