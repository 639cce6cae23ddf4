"""The retrieval evaluation's plots, tables and summary line, drawn from its report.

Kept apart from the evaluation itself so a saved report (``reports/retrieval.json``)
can be re-plotted or re-tabled without re-running anything.
"""

from __future__ import annotations

from pathlib import Path

from evaluation.plots import plot_method_bars, plot_quality_vs_latency
from evaluation.world import (
    BM25,
    FROZEN,
    FUSED_DENSE,
    HYBRID,
    IMAGE_DENSE,
    INSTANCE,
    PERSONALISED,
    TEXT_DENSE,
)

METHOD_ORDER = (
    BM25, TEXT_DENSE, IMAGE_DENSE, FUSED_DENSE, HYBRID, PERSONALISED, FROZEN, INSTANCE,
)  # fmt: skip


def _method_table(report: dict) -> dict[str, dict[str, float]]:
    """Metric name → {method: value}, the per-method bar chart's data."""
    tasks = report["tasks"]
    k = report["config"]["k"]
    rows: dict[str, dict[str, float]] = {}
    for method, metrics in tasks["other_photo"].get("methods", {}).items():
        rows.setdefault(f"other photo R@{k}", {})[method] = metrics[f"recall@{k}"]
    for method, metrics in tasks["title_to_listing"].get("methods", {}).items():
        rows.setdefault("title R@1", {})[method] = metrics["recall@1"]
        rows.setdefault(f"title R@{k}", {})[method] = metrics[f"recall@{k}"]
    for group, result in tasks["category_precision"].items():
        for method, metrics in result.get("methods", {}).items():
            rows.setdefault(f"{group} P@{k}", {})[method] = metrics[f"precision@{k}"]
    return rows


def plot_retrieval_report(report: dict, reports_dir: Path, stem: str = "retrieval") -> list[Path]:
    """The report's plots (up to three), named from ``stem``; returns the paths written."""
    split = report["config"].get("split", "test")
    k = report["config"]["k"]
    paths = [
        plot_method_bars(
            _method_table(report),
            reports_dir / f"{stem}_methods.png",
            f"Retrieval quality per method ({split} split)",
            order=METHOD_ORDER,
        ),
    ]
    title = report["tasks"]["title_to_listing"].get("methods", {})
    latency = report["latency_ms"]
    points = [
        (method, latency[f"text query: {method}"], metrics[f"recall@{k}"])
        for method, metrics in title.items()
        if f"text query: {method}" in latency
    ]
    if points:
        paths.append(
            plot_quality_vs_latency(
                points,
                reports_dir / f"{stem}_recall_vs_latency.png",
                "mean latency per query, in process (ms)",
                f"title → listing recall@{k}",
                "Recall vs latency per method",
            )
        )
    personal = report["tasks"]["personalisation"]
    if "ambiguous" in personal:
        p = f"precision@{k}"
        bars = {
            f"ambiguous queries P@{k}\nin the user's category": {
                "without": personal["ambiguous"][f"{p} without"],
                "with personalisation": personal["ambiguous"][f"{p} with"],
            }
        }
        for group, result in personal["clear"].items():
            bars[f"clear queries ({group}) P@{k}\nin the query's category"] = {
                "without": result[f"{p} without"],
                "with personalisation": result[f"{p} with"],
            }
        paths.append(
            plot_method_bars(bars, reports_dir / f"{stem}_personalisation.png", "Personalisation")
        )
    return paths


def markdown_tables(report: dict) -> str:
    """The README's tables: one row per metric, one column per method."""
    rows = _method_table(report)
    seen = dict.fromkeys(m for values in rows.values() for m in values)
    methods = [m for m in METHOD_ORDER if m in seen] + [m for m in seen if m not in METHOD_ORDER]
    lines = [
        "| metric | " + " | ".join(methods) + " |",
        "| --- |" + " ---: |" * len(methods),
    ]
    for name, values in rows.items():
        cells = [f"{values[m]:.3f}" if m in values else "–" for m in methods]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    personal = report["tasks"]["personalisation"]
    if "ambiguous" in personal:
        p = f"precision@{report['config']['k']}"
        lines += [
            "",
            f"| personalisation ({personal['users']} simulated users) | {p} without "
            "| with | change |",
            "| --- | ---: | ---: | ---: |",
        ]
        groups = {"ambiguous queries, in the user's category": personal["ambiguous"]}
        groups |= {
            f"clear queries ({g}), in the query's category": r for g, r in personal["clear"].items()
        }
        for name, result in groups.items():
            change = result[f"{p} with"] - result[f"{p} without"]
            lines.append(
                f"| {name} | {result[f'{p} without']:.3f} | {result[f'{p} with']:.3f} "
                f"| {change:+.3f} |"
            )
    lines += ["", "| target | value | met |", "| --- | --- | --- |"]
    for name, target in report["targets"].items():
        lines.append(f"| {name} | {_fmt(target['value'])} | {'yes' if target['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def summary_line(report: dict) -> str:
    met = sum(t["met"] for t in report["targets"].values())
    k = report["config"]["k"]
    tasks = report["tasks"]
    photo = tasks["other_photo"].get("methods", {}).get("hybrid", {}).get(f"recall@{k}")
    title = tasks["title_to_listing"].get("methods", {}).get("hybrid", {}).get(f"recall@{k}")
    lift = tasks["personalisation"].get("ambiguous", {}).get("lift")
    return (
        f"retrieval: other-photo R@{k} {_fmt(photo)}, title R@{k} (hybrid) {_fmt(title)}, "
        f"personalisation lift {_fmt(lift)}; {met}/{len(report['targets'])} targets met"
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return "n/a" if value is None else str(value)
