"""The scaling benchmark's report: its JSON, the README's table, two plots, one line.

Kept apart from the measuring (``benchmarks.scaling``) so a saved report can
be re-tabled or re-plotted without re-running anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from benchmarks.harness import write_report
from evaluation.plots import save_figure  # also puts matplotlib on the headless backend

KIND_STYLE = {"exact": ("tab:gray", "s"), "ivf": ("tab:blue", "o"), "hnsw": ("tab:orange", "^")}


def write_scaling_report(report: dict[str, object], reports_dir: Path) -> list[Path]:
    """``scaling_bench.json`` (its summary printed), its table (``.md``) and two plots;
    returns the JSON and plot paths."""
    json_path = write_report(report, reports_dir / "scaling_bench.json", summary_line(report))
    (reports_dir / "scaling_bench.md").write_text(markdown_table(report), encoding="utf-8")
    return [
        json_path,
        plot_latency_vs_size(report, reports_dir / "scaling_latency_vs_size.png"),
        plot_recall_vs_latency(report, reports_dir / "scaling_recall_vs_latency.png"),
    ]


def summary_line(report: dict[str, object]) -> str:
    """One line for the terminal: the largest size's headline figures."""
    largest = report["sizes"][-1]
    chosen = largest["chosen"]
    parts = [
        f"{kind} {chosen[kind]['p50_ms']:.2f} ms (R@10 {chosen[kind]['recall_at_k']:.2f})"
        for kind in ("exact", "ivf", "hnsw")
    ]
    return (
        f"{largest['size']:,} vectors: "
        + ", ".join(parts)
        + f"; exact = {largest['exact_over_bound']:.2f}x the bandwidth bound"
    )


def markdown_table(report: dict[str, object]) -> str:
    """The README's table: one row per size and index kind, at the chosen setting."""
    lines = [
        "| vectors | index | setting | recall@10 | p50 ms | p95 ms | build s |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for size in report["sizes"]:
        for kind in ("exact", "ivf", "hnsw"):
            point = size["chosen"][kind]
            lines.append(
                f"| {size['size']:,} | {kind} | {point['param'] or '–'} "
                f"| {point['recall_at_k']:.3f} | {point['p50_ms']:.3f} | {point['p95_ms']:.3f} "
                f"| {size['build_seconds'][kind]:.1f} |"
            )
    bandwidth = report["bandwidth"]["moved_bytes_per_s"] / 1e9
    lines += [
        "",
        f"Copy bandwidth (numpy, read + write): {bandwidth:.1f} GB/s.",
        "",
        "| vectors | bytes scanned | bound ms | exact p50 ms | exact / bound |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in report["sizes"]:
        lines.append(
            f"| {size['size']:,} | {size['exact_bytes_scanned'] / 1e6:.0f} MB "
            f"| {size['exact_bound_ms']:.3f} | {size['chosen']['exact']['p50_ms']:.3f} "
            f"| {size['exact_over_bound']:.2f} |"
        )
    return "\n".join(lines) + "\n"


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)
