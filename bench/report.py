"""The Markdown report of a run, rendered from its JSON document alone (pure functions)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SECTION_TITLES = {
    "quality": "Quality",
    "latency": "Latency",
    "throughput": "Throughput",
    "search": "Search",
    "memory": "Memory",
}
BASELINES_MD_EXACT_MATCH = {  # BASELINES.md, ImageNet features, all 2,032 pairs
    ("whole person photo", "shop"): (0.017, 0.046, 0.128),
    ("ground-truth top crop", "shop"): (0.089, 0.169, 0.281),
    ("whole person photo", "catalog"): (0.000, 0.001, 0.002),
    ("ground-truth top crop", "catalog"): (0.047, 0.084, 0.133),
}


def format_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if unit == "share":
        return f"{value:.3f}"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"


def format_ratio(ratio: float | None) -> str:
    return "" if ratio is None else f"×{ratio:.2f}"


def _baseline_cell(figure: dict[str, Any]) -> str:
    if figure.get("baseline") is None:
        return ""
    label = figure.get("baseline_label")
    value = format_value(figure["baseline"], figure["unit"])
    return f"{value} ({label})" if label else value


def summary_rows(run: dict[str, Any]) -> list[list[str]]:
    """One row per headline figure: section, what, value, unit, baseline, ratio."""
    rows = []
    for name, section in run.get("sections", {}).items():
        for figure in section.get("figures", []):
            if figure.get("headline"):
                rows.append(
                    [
                        name,
                        f"{figure['group']}: {figure['name']}",
                        format_value(figure["value"], figure["unit"]),
                        figure["unit"],
                        _baseline_cell(figure),
                        format_ratio(figure.get("ratio_to_baseline")),
                    ]
                )
        if section.get("errors"):
            rows.append([name, f"{section['status'].upper()}: {len(section['errors'])} error(s)"])
    return rows


def summary_table(run: dict[str, Any]) -> str:
    header = ["section", "figure", "value", "unit", "baseline", "vs baseline"]
    return markdown_table(header, summary_rows(run))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    width = len(header)
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * width]
    for row in rows:
        padded = [*row, *[""] * (width - len(row))]
        lines.append("| " + " | ".join(map(cell, padded)) + " |")
    return "\n".join(lines)


def figure_tables(section: dict[str, Any]) -> str:
    """One table per group of figures, in the order they were recorded."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for figure in section.get("figures", []):
        groups.setdefault(figure["group"], []).append(figure)
    parts = []
    for group, figures in groups.items():
        rows = [
            [
                figure["name"],
                format_value(figure["value"], figure["unit"]),
                figure["unit"],
                _baseline_cell(figure),
                format_ratio(figure.get("ratio_to_baseline")),
            ]
            for figure in figures
        ]
        parts.append(
            f"**{group}**\n\n"
            + markdown_table(["figure", "value", "unit", "baseline", "vs baseline"], rows)
        )
    return "\n\n".join(parts)


def search_pivot(search: dict[str, Any]) -> str:
    """Every method at every ef_search: median / p95 ms, recall@20, short share."""
    parts = []
    for size, result in search.get("sizes", {}).items():
        rows = []
        for ef, methods in result["by_ef_search"].items():
            in_process = (result.get("in_process") or {}).get("by_ef_search", {}).get(ef, {})
            for method, row in {**methods, **in_process}.items():
                rows.append(
                    [
                        ef,
                        method,
                        format_value(row["latency_ms_median"]),
                        format_value(row["latency_ms_p95"]),
                        format_value(row["recall_at_20"], "share"),
                        format_value(row["share_short_of_k"], "share"),
                    ]
                )
        header = ["ef_search", "method", "median ms", "p95 ms", "recall@20", "short of 20"]
        parts.append(f"**{int(size):,} products**\n\n" + markdown_table(header, rows))
    return "\n\n".join(parts)


def baseline_reproduction(quality: dict[str, Any]) -> str:
    """The retrieval CLI's ImageNet rows beside the BASELINES.md figures."""
    rows = []
    for row in quality.get("details", {}).get("retrieval", {}).get("baseline_reproduction", []):
        gallery = "catalog" if "catalog" in row["gallery"] else "shop"
        documented = BASELINES_MD_EXACT_MATCH.get((row["query"], gallery))
        measured = " / ".join(f"{row[k]:.3f}" for k in ("R@1", "R@5", "R@20"))
        expected = " / ".join(f"{v:.3f}" for v in documented) if documented else ""
        rows.append([row["query"], row["gallery"], measured, expected])
    if not rows:
        return ""
    header = ["query", "gallery", "R@1 / R@5 / R@20 (this run)", "BASELINES.md"]
    return "**ImageNet baseline reproduced (all pairs)**\n\n" + markdown_table(header, rows)


def _link(path: str, report_dir: Path) -> str:
    return os.path.relpath(path, report_dir) if os.path.isabs(path) else path


def render_section(name: str, section: dict[str, Any], report_dir: Path) -> str:
    title = SECTION_TITLES.get(name, name.title())
    lines = [f"## {title}", "", f"Status: **{section['status']}**, {section['seconds']:.0f} s."]
    if section["status"] == "skipped":
        return "\n".join(lines)
    for error in section.get("errors", []):
        lines.append(f"- ERROR: {error}")
    for note in section.get("notes", []):
        lines.append(f"- {note}")
    tables = figure_tables(section)
    if tables:
        lines += ["", tables]
    reproduction = baseline_reproduction(section) if name == "quality" else ""
    if reproduction:
        lines += ["", reproduction]
    if name == "search" and section.get("details", {}).get("search"):
        lines += ["", "All settings:", "", search_pivot(section["details"]["search"])]
    for label, path in section.get("artifacts", {}).items():
        lines += ["", f"![{label}]({_link(path, report_dir)})", f"*{label}*"]
    return "\n".join(lines)


def environment_lines(run: dict[str, Any]) -> list[str]:
    environment = run.get("environment", {})
    device = environment.get("device", {})
    machine = environment.get("machine", {})
    code = environment.get("code", {})
    versions = ", ".join(f"{k} {v}" for k, v in environment.get("versions", {}).items() if v)
    lines = [
        f"- Mode **{run.get('mode')}**, started {run.get('started_at')}, "
        f"wall time {run.get('wall_seconds', 0):.0f} s; command `{run.get('command', '')}`",
        f"- Machine: {machine.get('cpu')} ({machine.get('logical_cpus')} logical CPUs), "
        f"{machine.get('platform')}; load average at start {machine.get('load_average_at_start')}",
        f"- Device: **{device.get('type')}**, {device.get('name')}",
        f"- Code: {code.get('commit')}{' (uncommitted changes)' if code.get('dirty') else ''}",
        f"- Versions: {versions}",
    ]
    for kind, model in run.get("models", {}).items():
        lines.append(
            f"- {kind}: {model['path']} (sha256 {model['sha256'][:12]})"
            if model
            else f"- {kind}: none (trained rows missing)"
        )
    data = run.get("data", {})
    files = data.get("files", {})
    hashes = ", ".join(
        f"{name} {entry['sha256'][:12]}" if entry else f"{name} missing"
        for name, entry in files.items()
    )
    lines.append(f"- Data: {data.get('data_dir')}; sha256 {hashes}")
    return lines


def render_report(run: dict[str, Any], report_dir: Path) -> str:
    """The whole Markdown report."""
    failed = run.get("failed", [])
    lines = ["# ShopALook benchmark", "", *environment_lines(run), ""]
    if failed:
        lines += [f"**Failed sections: {', '.join(failed)}** (errors below; exit code 1).", ""]
    lines += [
        "## Summary",
        "",
        "Timings are wall-clock on this machine in one sitting: compare within the run.",
        "",
        summary_table(run),
        "",
    ]
    for label, path in run.get("plots", {}).items():
        lines += [f"![{label}]({_link(path, report_dir)})", ""]
    for error in run.get("plot_errors", []):
        lines += [f"- ERROR: {error}"]
    for name, section in run.get("sections", {}).items():
        lines += [render_section(name, section, report_dir), ""]
    return "\n".join(lines).rstrip() + "\n"
