"""Benchmark reports: JSON, a markdown table, a bar chart and a sheet of predictions (PNG).

Numbers are mean ± sample standard deviation over seeds. The difference to the ``real`` arm is
paired: taken seed by seed (same seed, same initial weights and sampler), then averaged. Charts
are drawn with PIL (matplotlib is not a dependency of the library).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from augment.data.sheets import save_contact_sheet

METRICS = ("pixel_auroc", "pixel_ap", "f1_max", "iou_defect", "miou", "image_auroc")
BASELINE = "real"
COLOURS = [(90, 90, 90), (220, 80, 40), (40, 120, 220), (60, 170, 90), (170, 80, 190)]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``out[scope][arm][metric] = {mean, std, n, delta_mean, delta_std}`` (deltas vs the real arm)."""
    by_key = {(r["arm"], r["seed"]): r["metrics"] for r in runs}
    arms = list(dict.fromkeys(r["arm"] for r in runs))
    scopes = list(runs[0]["metrics"]) if runs else []
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for scope in scopes:
        out[scope] = {}
        for arm in arms:
            seeds = sorted(s for a, s in by_key if a == arm)
            out[scope][arm] = {}
            for metric in METRICS:
                vals = [by_key[(arm, s)][scope][metric] for s in seeds]
                mean, std = _mean_std(vals)
                entry = {"mean": mean, "std": std, "n": len(vals)}
                base = [
                    (by_key[(arm, s)][scope][metric] - by_key[(BASELINE, s)][scope][metric])
                    for s in seeds
                    if (BASELINE, s) in by_key
                ]
                if base and arm != BASELINE:
                    entry["delta_mean"], entry["delta_std"] = _mean_std(base)
                out[scope][arm][metric] = entry
    return out


def _cell(entry: dict[str, float]) -> str:
    text = f"{entry['mean']:.3f} ± {entry['std']:.3f}"
    if "delta_mean" in entry and not math.isnan(entry["delta_mean"]):
        text += f" ({entry['delta_mean']:+.3f})"
    return text


def markdown(result: dict[str, Any], summary: dict[str, Any]) -> str:
    """The report as markdown: what was run, then one table per scope."""
    cfg, split = result["config"], result["split"]
    source = result.get("synthetic_source")
    lines = [
        "# Downstream benchmark",
        "",
        f"- data: `{result['split_files']['root']}` (fingerprint {split['fingerprint']}), split "
        f"{split['protocol']}: {split['shots']} shots, {split['good_train']} defect-free train; test "
        f"{split['test_defects']} defect + {split['good_test']} defect-free images",
        f"- model: smp {cfg['arch']} / {cfg['encoder']} (depth {cfg['encoder_depth']}, no pretrained "
        f"weights), loss {cfg['loss']}, {cfg['steps']} steps × batch {cfg['batch_size']}, input "
        f"{result['input_size'][0]}×{result['input_size'][1]}, crop {cfg['crop']}, seeds {cfg['seeds']}",
        f"- extra pairs per defect type: {result['extra_per_defect']}; synthetic source: "
        f"{source['kind'] + ' ' + source['path'] + ' (' + source['fingerprint'] + ')' if source else 'none'}",
        f"- pixel metrics binned over all test pixels ({cfg['bins']} probability bins); IoU at 0.5; "
        "image AUROC from each image's max pixel score",
        f"- wall time {result.get('wall_s', math.nan):.0f} s; versions: "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        "",
        f"mean ± std over seeds; in brackets the paired difference to arm `{BASELINE}`.",
        "",
    ]
    for scope, arms in summary.items():
        lines += [
            f"## {scope}",
            "",
            "| arm | " + " | ".join(METRICS) + " |",
            "|---" * (len(METRICS) + 1) + "|",
        ]
        lines += [f"| {arm} | " + " | ".join(_cell(v[m]) for m in METRICS) + " |" for arm, v in arms.items()]
        lines.append("")
    return "\n".join(lines)


def bar_chart(
    summary_scope: dict[str, dict[str, dict[str, float]]], width: int = 900, height: int = 360
) -> Image.Image:
    """Grouped bars (one group per metric, one bar per arm) with ±1 std error bars, y in [0, 1]."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 40, 10, 30, 40
    plot_h, group_w = height - top - bottom, (width - left - right) / len(METRICS)
    for k in range(6):
        y = top + plot_h * (1 - k / 5)
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((4, y - 6), f"{k / 5:.1f}", fill="black")
    arms = list(summary_scope)
    bar_w = group_w * 0.8 / max(1, len(arms))
    for g, metric in enumerate(METRICS):
        x0 = left + g * group_w + group_w * 0.1
        draw.text((x0, height - bottom + 6), metric, fill="black")
        for a, arm in enumerate(arms):
            mean, std = summary_scope[arm][metric]["mean"], summary_scope[arm][metric]["std"]
            if math.isnan(mean):
                continue
            xa = x0 + a * bar_w
            y_of = lambda v: top + plot_h * (1 - min(max(v, 0.0), 1.0))  # noqa: E731
            draw.rectangle([xa, y_of(mean), xa + bar_w - 2, top + plot_h], fill=COLOURS[a % len(COLOURS)])
            xc = xa + bar_w / 2 - 1
            draw.line([(xc, y_of(mean - std)), (xc, y_of(mean + std))], fill="black", width=2)
            for v in (mean - std, mean + std):
                draw.line([(xc - 3, y_of(v)), (xc + 3, y_of(v))], fill="black")
    for a, arm in enumerate(arms):
        draw.rectangle([left + a * 120, 8, left + a * 120 + 12, 20], fill=COLOURS[a % len(COLOURS)])
        draw.text((left + a * 120 + 16, 8), arm, fill="black")
    return img


def _overlay(image: np.ndarray, prob: np.ndarray) -> np.ndarray:
    p = cv2.resize(prob, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)[..., None]
    red = np.array([255, 0, 0], np.float32)
    return (image.astype(np.float32) * (1 - 0.6 * p) + red * 0.6 * p).astype(np.uint8)


def prediction_tiles(previews: dict[str, Any]) -> list[tuple[np.ndarray, np.ndarray | None, str]]:
    """Per test image: the truth outlined, then each arm's probability in red, p >= 0.5 outlined."""
    tiles: list[tuple[np.ndarray, np.ndarray | None, str]] = []
    for k, (image, mask, defect) in enumerate(
        zip(previews["originals"], previews["masks"], previews["defects"], strict=False)
    ):
        tiles.append((image, mask, f"truth: {defect}"))
        for arm, probs in previews["probs"].items():
            full = cv2.resize(probs[k], (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
            tiles.append((_overlay(image, probs[k]), (full >= 0.5).astype(np.uint8), arm))
    return tiles


def write_report(result: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write results.json, report.md, bars.png and predictions.png into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(result["runs"])
    data = {k: v for k, v in result.items() if k != "previews"} | {"summary": summary}
    paths = {
        "json": out / "results.json",
        "markdown": out / "report.md",
        "bars": out / "bars.png",
        "predictions": out / "predictions.png",
    }
    paths["json"].write_text(json.dumps(data, indent=2, default=str))
    paths["markdown"].write_text(markdown(result, summary))
    bar_chart(summary["all"]).save(paths["bars"])
    tiles = prediction_tiles(result["previews"])
    if tiles:
        save_contact_sheet(paths["predictions"], tiles, columns=1 + len(result["previews"]["probs"]))
    else:
        paths.pop("predictions")
    return paths


__all__ = ["METRICS", "bar_chart", "markdown", "prediction_tiles", "summarise", "write_report"]
