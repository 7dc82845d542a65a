"""Benchmark reports: results.json, report.md, and PNGs (learning curves, shots sweep, bars, predictions).

Numbers are mean ± sample standard deviation over seeds, measured on the test part of the split
only. The difference to the ``real`` arm is paired (same seed, same test images) and comes with
the 95 % bootstrap interval over seeds × test images of ``downstream.stats``; the verdict says
"better" or "worse" only when that interval excludes 0. A model arm is also compared, the same way,
with the arm pasting the same real shots (``synthetic`` with ``copy-paste``). Charts are drawn with PIL.
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
from downstream.coverage import coverage_note
from downstream.plots import COLOURS, Series, colour_of, line_chart, side_by_side

METRICS = ("pixel_auroc", "pixel_ap", "f1", "iou_defect", "miou", "image_auroc")
HEADLINE = ("pixel_ap", "miou")  # the metrics with an interval and a verdict in the tables
BASELINE = "real"
NAMES = {
    "pixel_auroc": "pixel AUROC",
    "pixel_ap": "pixel AP",
    "f1": "F1",
    "iou_defect": "IoU",
    "miou": "mIoU",
    "image_auroc": "image AUROC",
}

__all__ = [
    "METRICS",
    "bar_chart",
    "checkpoint_notes",
    "chosen_steps",
    "curves_chart",
    "markdown",
    "prediction_tiles",
    "shots_chart",
    "summarise",
    "write_report",
]


DRAW_OFFSET = 0.08  # x shift of each further draw of a setting's shots on the shots plot

SWEEP_LEAK_ARMS = frozenset({"synthetic", "synthetic-only"})
SWEEP_LEAK_NOTE = (
    "Note: the synthetic source is the same at every setting, and not all of its pairs could be "
    "checked against a setting's shots: some name no shot (banks written before pairs named them), "
    "or the model that painted them was fitted on shots a setting lacks. At such a setting the "
    "synthetic arms carry more real defects than `real` and `copy-paste` do. For a fair sweep, fit "
    "the model on each setting's shots (`defect-synth fit --split OUT/split-Kshots.json`); a paste "
    "bank (`defect-synth paste`) names its shots and is filtered to each setting's own."
)


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


def _as_sweep(result: dict[str, Any]) -> dict[str, Any]:
    """A single ``run_benchmark`` result as a one-setting sweep."""
    if "settings" in result:
        return result
    return {
        "settings": [{"setting": None, "label": "", "result": result}],
        "wall_s": result.get("wall_s", math.nan),
    }


VERDICT_HEAD = "verdict (" + ", ".join(NAMES[m] for m in HEADLINE) + ")"


def _verdicts(metrics: dict[str, Any]) -> str:
    """The verdicts of the headline metrics of one arm's intervals."""
    return ", ".join(metrics.get(m, {}).get("verdict", "–") for m in HEADLINE)


def _interval_cell(iv: dict[str, Any] | None) -> str:
    if not iv or math.isnan(iv["diff"]):
        return "–"
    return f"{iv['diff']:+.3f} [{iv['low']:+.3f}, {iv['high']:+.3f}]"


def _interval_row(labels: Sequence[str], metrics: dict[str, Any]) -> str:
    """A table row: the labels, each headline metric's interval, and their verdicts."""
    cells = [_interval_cell(metrics.get(m)) for m in HEADLINE]
    return "| " + " | ".join([*labels, *cells, _verdicts(metrics)]) + " |"


def _table(result: dict[str, Any], summary: dict[str, Any], scope: str) -> list[str]:
    """One row per arm: mean ± std of every metric, intervals and verdicts of the headline metrics."""
    ivs = result.get("intervals", {}).get(scope, {})
    ratios = {a: v["chosen"] for a, v in result.get("ratio_search", {}).items()}
    head = ["arm", "ratio"]
    for m in HEADLINE:
        head += [NAMES[m], f"Δ {NAMES[m]} [95 % CI]"]
    head += [NAMES[m] for m in METRICS if m not in HEADLINE] + [VERDICT_HEAD]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for arm, values in summary[scope].items():
        row = [arm, f"{ratios[arm]:g}" if arm in ratios else "–"]
        for m in HEADLINE:
            row += [
                f"{values[m]['mean']:.3f} ± {values[m]['std']:.3f}",
                _interval_cell(ivs.get(arm, {}).get(m)),
            ]
        row += [f"{values[m]['mean']:.3f} ± {values[m]['std']:.3f}" for m in METRICS if m not in HEADLINE]
        row.append("baseline" if arm == BASELINE else _verdicts(ivs.get(arm, {})))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _rival_table(entry: dict[str, Any]) -> list[str]:
    """Each model arm's paired difference to the arm pasting the same real shots (all test images)."""
    ivs = entry.get("rival_intervals", {}).get("all", {})
    if not ivs:
        return []
    head = ["arm", "against", *(f"Δ {NAMES[m]} [95 % CI]" for m in HEADLINE), VERDICT_HEAD]
    lines = [
        "Against pasted real defects: each model arm's paired difference to the arm that pastes the same "
        "shots instead (same seed, same test images, interval and verdict as above). A model earns its "
        "cost only where it beats this arm too.",
        "",
        "| " + " | ".join(head) + " |",
        "|---" * len(head) + "|",
    ]
    lines += [_interval_row([arm, f"`{entry['rivals'][arm]}`"], metrics) for arm, metrics in ivs.items()]
    return [*lines, ""]


def _source_line(res: dict[str, Any]) -> str:
    """Which synthetic source the synthetic arms drew from, and whether its real defects were checked."""
    src = res["synthetic_source"]
    state = (
        "made only from this setting's shots (checked, `downstream.provenance`)"
        if res.get("synthetic_shots_checked")
        else "not checked against this setting's shots: it may carry real defects the other arms lack"
    )
    return f"Synthetic source: {src['kind']} `{src['path']}`, {state}."


def _pooled_table(pooled: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """One setting's differences to ``real`` pooled over its draws of shots, seeds and test images."""
    ivs = pooled["intervals"].get("all", {})
    head = [
        "arm",
        *(f"Δ {NAMES[m]} [95 % CI]" for m in HEADLINE),
        VERDICT_HEAD,
    ]
    lines = [
        f"## {pooled['label']}: pooled over {pooled['draws']} draws of the shots",
        "",
        f"Each run paired with `real` of the same draw and seed; the interval resamples draws × seeds "
        f"({pooled['draws']} × {len(cfg['seeds'])}) and test images, so it also covers the choice of shots.",
        "",
        "| " + " | ".join(head) + " |",
        "|---" * len(head) + "|",
    ]
    lines += [_interval_row([arm], metrics) for arm, metrics in ivs.items()]
    return [*lines, "", *_rival_table(pooled)]


def chosen_steps(runs: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Each arm's validation-chosen checkpoint step, one per run in seed order."""
    out: dict[str, list[int]] = {}
    for run in sorted(runs, key=lambda r: r["seed"]):
        out.setdefault(run["arm"], []).append(int(run["best_step"]))
    return out


def checkpoint_notes(runs: Sequence[dict[str, Any]], steps: int) -> list[str]:
    """The chosen checkpoints per arm, and a warning where most runs of an arm chose the last one."""
    lines = [
        "Chosen checkpoints (best validation pixel AP) per arm, in seed order; an arm whose runs mostly "
        f"chose the last step ({steps}) may still have been learning when the budget ran out (the "
        "one-cycle schedule also ends there at its lowest learning rate): a longer `--steps` shows "
        "whether it gains.",
        "",
        "| arm | chosen steps | at the last step |",
        "|---|---|---|",
    ]
    late = []
    for arm, chosen in chosen_steps(runs).items():
        n_last = sum(s >= steps for s in chosen)
        lines.append(f"| {arm} | {', '.join(map(str, chosen))} | {n_last} of {len(chosen)} |")
        if 2 * n_last > len(chosen):
            late.append(arm)
    if BASELINE in late:
        lines += [
            "",
            f"**`{BASELINE}` chose the last step in most runs: it had not plateaued, so the budget is "
            "short for this protocol** (it wants one where real-only has stopped improving).",
        ]
    elif late:
        names = ", ".join(f"`{arm}`" for arm in late)
        lines += [
            "",
            f"**Most runs of {names} chose the last step**: rerun with a longer `--steps` before reading a "
            "difference to `real` (a longer schedule can lift `real` too, even where it chose earlier steps).",
        ]
    return [*lines, ""]


def _header(sweep: dict[str, Any]) -> list[str]:
    first = sweep["settings"][0]["result"]
    cfg, split, mach = first["config"], first["split"], first.get("machine", {})
    ratio = cfg["synthetic_ratio"]
    ratio_text = (
        f"chosen per arm among {cfg['ratio_grid']} by the mean validation AP (a ratio adding the same "
        "pairs per type as a smaller one is not trained again: see each setting's ratios_trained)"
        if ratio == "auto"
        else f"{ratio}"
    )
    return [
        "# Downstream benchmark",
        "",
        f"- data: `{first['split_files']['root']}` (fingerprint {split['fingerprint']}), split {split['protocol']} "
        f"(seed {split['seed']}): {split['good_train']} defect-free training images; validation "
        f"{split.get('val_defects', 0)} defect + {split.get('good_val', 0)} defect-free images; test "
        f"{split['test_defects']} defect + {split['good_test']} defect-free images.",
        "- **Every number below is measured on the test part only**, which no choice has seen. Chosen on "
        f"validation: the checkpoint (validated every {cfg['eval_every']} steps, best validation pixel AP, the "
        "same rule for every arm), the F1 / IoU / mIoU threshold (best validation F1), the synthetic ratio "
        f"(extra pairs per real shot: {ratio_text}).",
        f"- model: smp {cfg['arch']} / {cfg['encoder']} (depth {cfg['encoder_depth']}, no pretrained weights), "
        f"loss {cfg['loss']}, {cfg['steps']} steps × batch {cfg['batch_size']}, input "
        f"{first['input_size'][0]}×{first['input_size'][1]}, crop {cfg['crop']}, seeds {cfg['seeds']}",
        f"- device {mach.get('device', cfg.get('device'))}{' (' + mach['gpu'] + ')' if mach.get('gpu') else ''}, "
        f"{cfg['dtype']}, {mach.get('threads_per_job', cfg.get('threads'))} torch thread(s) per job, "
        f"{mach.get('workers', cfg.get('workers'))} worker process(es); wall time {sweep.get('wall_s', math.nan):.0f} s",
        "- pixel metrics over all test pixels pooled (binned, "
        f"{cfg['bins']} probability bins); image AUROC from each image's largest pixel probability",
        f"- Δ: paired difference to `{BASELINE}` (same seed, same test images), mean over seeds, with its 95 % "
        f"bootstrap interval over seeds × test images ({cfg['n_boot']} replicates, pixel metrics recomputed "
        "from the resampled images' pixels); the verdict is *better* / *worse* only when the interval excludes 0, "
        "else *no measurable difference*.",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in first["versions"].items()),
        "",
    ]


def markdown(result: dict[str, Any], summary: dict[str, Any] | None = None) -> str:
    """The report as markdown: what was run and how, then the tables of each shots setting."""
    sweep = _as_sweep(result)
    lines = _header(sweep)
    for entry in sweep["settings"]:
        res = entry["result"]
        summ = summarise(res["runs"]) if summary is None or len(sweep["settings"]) > 1 else summary
        title = entry["label"] or res["split"]["protocol"]
        shots = entry.get("shots_per_defect") or res["split"]["per_defect"]
        lines += [f"## {title}: all test images", ""]
        lines += [
            f"Shots per defect type: {json.dumps({d: v if isinstance(v, int) else v['shots'] for d, v in shots.items()})}",
            "",
        ]
        if res.get("synthetic_source"):
            lines += [_source_line(res), ""]
        shared = coverage_note(res.get("synthetic_coverage") or {})
        if shared:
            lines += [shared, ""]
        if res.get("synthetic_left_out"):
            lines += [
                f"{res['synthetic_left_out']} pairs of the synthetic bank left out: pasted from shots "
                "this setting does not train on.",
                "",
            ]
        lines += [*_table(res, summ, "all"), "", *_rival_table(res)]
        for scope in [s for s in summ if s != "all"]:
            lines += [
                f"### {title}: {scope} (its test images + the defect-free ones)",
                "",
                *_table(res, summ, scope),
                "",
            ]
    for pooled in sweep.get("pooled", []):
        lines += _pooled_table(pooled, sweep["settings"][0]["result"]["config"])
    lines += [
        "## Validation learning curves",
        "",
        "![validation pixel AP against step, every arm](curves.png)",
        "",
    ]
    for entry in sweep["settings"]:
        res = entry["result"]
        if len(sweep["settings"]) > 1:
            lines += [f"### {entry['label'] or res['split']['protocol']}", ""]
        lines += checkpoint_notes(res["runs"], int(res["config"]["steps"]))
    if len(sweep["settings"]) > 1:
        lines += ["## Gain over real against the number of shots", "", "![gain over real](shots.png)", ""]
        if any(
            SWEEP_LEAK_ARMS & set(e["result"]["arms"]) and not e["result"].get("synthetic_shots_checked")
            for e in sweep["settings"]
        ):
            lines += [SWEEP_LEAK_NOTE, ""]
    lines += ["## Predictions (test images, first seed)", "", "![predictions](predictions.png)", ""]
    return "\n".join(lines)


def curves_chart(result: dict[str, Any], title: str = "") -> Image.Image:
    """Validation pixel AP against step: a thin line per seed and a thick mean per arm."""
    arms = list(dict.fromkeys(r["arm"] for r in result["runs"]))
    series = []
    for a, arm in enumerate(arms):
        curves = [r["curve"] for r in result["runs"] if r["arm"] == arm]
        colour = colour_of(a)
        series += [Series(None, [p[0] for p in c], [p[1] for p in c], colour, 1) for c in curves]
        steps = [p[0] for p in curves[0]]
        mean = [float(np.nanmean([c[k][1] for c in curves])) for k in range(len(steps))]
        series.append(Series(arm, steps, mean, colour, 3))
    return line_chart(series, f"validation pixel AP {title}".strip(), "step", "val AP")


def shots_chart(sweep: dict[str, Any], metric: str = "pixel_ap") -> Image.Image:
    """Each arm's paired gain over real (mean, 95 % interval) against the number of shots per type."""
    points: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for entry in sweep["settings"]:
        counts = list(entry["shots_per_defect"].values())
        # other draws of the same shots sit just right of the first, so each stays visible
        x = float(np.mean(counts)) + DRAW_OFFSET * entry.get("draw", 0) if counts else math.nan
        for arm, ivs in entry["result"].get("intervals", {}).get("all", {}).items():
            points.setdefault(arm, []).append((x, ivs[metric]))
    series = []
    for a, (arm, pts) in enumerate(points.items()):
        pts = sorted(pts, key=lambda p: p[0])
        series.append(
            Series(
                arm,
                [p[0] for p in pts],
                [p[1]["diff"] for p in pts],
                colour_of(a + 1),
                2,
                [p[1]["low"] for p in pts],
                [p[1]["high"] for p in pts],
            )
        )
    return line_chart(
        series,
        f"gain in test {NAMES[metric]} over real (95 % CI)",
        "shots per defect type",
        "gain",  # the default bitmap font has no Greek letters
        zero_line=True,
    )


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

    def y_of(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), 1.0))

    for g, metric in enumerate(METRICS):
        x0 = left + g * group_w + group_w * 0.1
        draw.text((x0, height - bottom + 6), NAMES[metric], fill="black")
        for a, arm in enumerate(arms):
            mean, std = summary_scope[arm][metric]["mean"], summary_scope[arm][metric]["std"]
            if math.isnan(mean):
                continue
            xa = x0 + a * bar_w
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
    """Per test image: the truth outlined, then each arm's probability in red, its validation threshold outlined."""
    tiles: list[tuple[np.ndarray, np.ndarray | None, str]] = []
    thresholds = previews.get("thresholds", {})
    for k, (image, mask, defect) in enumerate(
        zip(previews["originals"], previews["masks"], previews["defects"], strict=False)
    ):
        tiles.append((image, mask, f"truth: {defect}"))
        for arm, probs in previews["probs"].items():
            full = cv2.resize(probs[k], (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
            cut = thresholds.get(arm, 0.5)
            tiles.append(
                (_overlay(image, probs[k]), (full >= cut).astype(np.uint8), f"{arm} (p ≥ {cut:.2f})")
            )
    return tiles


def _jsonable(sweep: dict[str, Any]) -> dict[str, Any]:
    settings = [
        {k: v for k, v in e.items() if k != "result"}
        | {
            "result": {k: v for k, v in e["result"].items() if k not in ("previews", "scores")}
            | {"summary": summarise(e["result"]["runs"])}
        }
        for e in sweep["settings"]
    ]
    return {k: v for k, v in sweep.items() if k != "settings"} | {"settings": settings}


def write_report(result: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write results.json, report.md, curves.png, bars.png, predictions.png (and shots.png for a sweep)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sweep = _as_sweep(result)
    last = sweep["settings"][-1]["result"]
    paths = {
        "json": out / "results.json",
        "markdown": out / "report.md",
        "curves": out / "curves.png",
        "bars": out / "bars.png",
        "predictions": out / "predictions.png",
    }
    paths["json"].write_text(json.dumps(_jsonable(sweep), indent=2, default=str))
    paths["markdown"].write_text(markdown(sweep))
    side_by_side([curves_chart(e["result"], e["label"]) for e in sweep["settings"]]).save(paths["curves"])
    bar_chart(summarise(last["runs"])["all"]).save(paths["bars"])
    if len(sweep["settings"]) > 1:
        paths["shots"] = out / "shots.png"
        shots_chart(sweep).save(paths["shots"])
    tiles = prediction_tiles(last["previews"])
    if tiles:
        save_contact_sheet(paths["predictions"], tiles, columns=1 + len(last["previews"]["probs"]))
    else:
        paths.pop("predictions")
    return paths
