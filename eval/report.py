"""Write an evaluation report as JSON (every number and what produced it) and as a markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = (
    "comparison",
    "N real",
    "N fake",
    "FID",
    "KID x1e3",
    "precision",
    "recall",
    "IS (fake)",
    "IC-LPIPS",
    "mask area KS",
)


def _num(value: Any, scale: float = 1.0, digits: int = 3) -> str:
    return f"{value * scale:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def _cell(entry: Any, key: str, scale: float = 1.0, std_key: str | None = None) -> str:
    if not isinstance(entry, dict) or key not in entry:
        return "n/a"
    text = _num(entry[key], scale)
    if std_key and std_key in entry:
        text += f" ± {_num(entry[std_key], scale)}"
    return text


def table_row(name: str, result: dict[str, Any]) -> str:
    """One markdown table row of a comparison result from `eval.compare.compare_files`."""
    cells = [
        name,
        str(result.get("n_real", "")),
        str(result.get("n_fake", "")),
        _num(result.get("fid"), digits=1),
        _cell(result.get("kid"), "mean", 1e3, "std"),
        _cell(result.get("prc"), "precision"),
        _cell(result.get("prc"), "recall"),
        _cell(result.get("is_fake"), "mean", std_key="std"),
        _cell(result.get("ic_lpips"), "value"),
        _cell(result.get("masks"), "ks_statistic"),
    ]
    return "| " + " | ".join(cells) + " |"


def unavailable_lines(comparisons: dict[str, dict[str, Any]]) -> list[str]:
    """One line per distinct 'unavailable' reason, so no metric is missing without a word."""
    reasons: dict[str, set[str]] = {}
    for result in comparisons.values():
        for metric, entry in result.items():
            if isinstance(entry, dict) and "unavailable" in entry:
                reasons.setdefault(entry["unavailable"], set()).add(metric)
    return [f"- {', '.join(sorted(ms))} unavailable: {reason}" for reason, ms in sorted(reasons.items())]


def to_markdown(report: dict[str, Any], title: str = "Generation metrics") -> str:
    """The report as markdown: table, provenance (network, resize, seeds) and notes."""
    feats, cfg = report["features"], report["config"]
    lines = [
        f"# {title}",
        "",
        f"Real: `{report['real']['root']}` ({report['real']['kind']}); "
        f"fake: `{report['fake']['root']}` ({report['fake']['kind']}).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += [table_row(name, result) for name, result in report["comparisons"].items()]
    lines += [
        "",
        f"Features: {feats['network']}, {feats['dim']}-d, resize '{feats['resize_mode']}' "
        f"(PIL bicubic, clean-fid) to {feats['resolution']} px. KID: {cfg['kid_subsets']} subsets of up to "
        f"{cfg['kid_subset_size']} (capped at the smaller set), seed {cfg['seed']}; precision/recall "
        f"k = {cfg['k']}.",
        "",
    ]
    lines += unavailable_lines(report["comparisons"])
    lines += [f"- {note}" for note in report.get("notes", [])]
    return "\n".join(lines) + "\n"


def write_report(
    report: dict[str, Any], out: str | Path, title: str = "Generation metrics"
) -> tuple[Path, Path]:
    """Write ``<out>.json`` and ``<out>.md`` (a ``.json``/``.md`` suffix on ``out`` is dropped)."""
    out = Path(out)
    if out.suffix in (".json", ".md"):
        out = out.with_suffix("")
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_name(out.name + ".json"), out.with_name(out.name + ".md")
    json_path.write_text(json.dumps(report, indent=2, default=str))
    md_path.write_text(to_markdown(report, title))
    return json_path, md_path


__all__ = ["table_row", "to_markdown", "unavailable_lines", "write_report"]
