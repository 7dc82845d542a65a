"""Generation metrics on KolektorSDD: real test cracks vs (a) real shot cracks, (b) synthesizer cracks,
(c) copy-paste cracks, on the standard Inception network, printed as a markdown table.

Split: first third of the cracks by file name are the shots (augment.data.split.make_split), the rest are
the held-out test cracks every row is compared with. (c) pastes the shots' cracks into defect-free
training images with augment.masks.paste.paste_defect (foreground from augment.masks.foreground.estimate_foreground).
(b) uses a bank written by the synthesizer (``--synth-bank``), or fits one here (``--fit-steps N``).

    nice -n 10 python benchmarks/eval_ksdd.py --data ../shared/datasets/ksdd --out eval_ksdd_out
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from augment.data.index import index_folder
from augment.data.pairs import write_pair
from augment.data.split import FewShotSplit, make_split
from augment.loaders.paste_bank import build_paste_bank
from augment.synth.synthesizer import DefectSynthesizer
from eval.cache import FeatureCache
from eval.compare import FID_BIAS_NOTE, EvalConfig, compare_files, resolve_distance
from eval.features import feature_spec, load_inception
from eval.report import write_report
from eval.sources import ImageSet, image_set_from_samples, load_image_set


def copy_paste_bank(data: str, split: FewShotSplit, out: Path, n: int, seed: int) -> ImageSet:
    """Row (c): the library's copy-paste bank, enough pastes per shot for ``n`` pairs."""
    build_paste_bank(data, out, per_shot=max(1, -(-n // len(split.shots))), seed=seed)
    return load_image_set(out)


def fit_synth_bank(split: FewShotSplit, out: Path, n: int, steps: int, seed: int) -> ImageSet:
    """Fit the embedded synthesizer on the shots for ``steps`` steps and write ``n`` generated pairs."""
    if out.exists():
        shutil.rmtree(out)
    synth = DefectSynthesizer()
    synth.fit(split, steps=steps, seed=seed)
    for defect in synth.defects:
        for i, pair in enumerate(synth.generate(n, defect=defect, generator=seed)):
            write_pair(out, pair, f"synth_{defect}_{i:03d}", split.index.products[0], defect)
    return load_image_set(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the KolektorSDD folder (e.g. ../shared/datasets/ksdd)")
    parser.add_argument("--out", required=True, help="output folder for the banks, the cache and the report")
    parser.add_argument(
        "--n-fake",
        type=int,
        default=None,
        help="pairs per generated row (default: as many as shots, so all rows share one N)",
    )
    parser.add_argument("--synth-bank", default=None, help="bank of synthesizer pairs for row (b)")
    parser.add_argument(
        "--fit-steps", type=int, default=0, help="fit the embedded synthesizer here (0: do not)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def build_rows(args: argparse.Namespace, split: FewShotSplit, out: Path) -> dict[str, ImageSet]:
    """The fake sets compared with the held-out cracks, one per row of the table."""
    n_fake = args.n_fake or len(split.shots)
    goods = [s.image for s in split.good_test[:n_fake]]
    rows: dict[str, ImageSet] = {
        "(a) real shots": image_set_from_samples(split.shots, args.data, "real shots"),
        "(ref) defect-free images": ImageSet(Path(args.data), "defect-free test images", {"good": goods}),
    }
    if args.synth_bank:
        rows["(b) synthesizer"] = load_image_set(args.synth_bank)
    elif args.fit_steps > 0:
        rows["(b) synthesizer"] = fit_synth_bank(split, out / "synth_bank", n_fake, args.fit_steps, args.seed)
    rows["(c) copy-paste"] = copy_paste_bank(args.data, split, out / "paste_bank", n_fake, args.seed)
    return rows


def compare_rows(
    real: ImageSet, rows: dict[str, ImageSet], split: FewShotSplit, cfg: EvalConfig, out: Path
) -> tuple[dict[str, dict], dict]:
    """Every row against the real set on the standard Inception; (comparisons, feature spec)."""
    extractor = load_inception()
    distance, reason = resolve_distance(cfg, None)
    cache = FeatureCache(out / "cache")
    centres = [s.image for s in split.shots]
    comparisons = {
        name: compare_files(
            real.files(), fake.files(), extractor, cfg, cache, distance, reason,
            real.mask_files(), fake.mask_files(), lpips_centres=centres,
        )
        for name, fake in rows.items()
    }  # fmt: skip
    return comparisons, feature_spec(extractor).to_dict()


def main() -> int:
    args = parse_args()
    torch.set_flush_denormal(True)
    out = Path(args.out)
    t0 = time.perf_counter()
    split = make_split(index_folder(args.data))
    real = image_set_from_samples(split.test_defects, args.data, "test cracks (held out)")
    cfg = EvalConfig(seed=args.seed)
    comparisons, features = compare_rows(real, build_rows(args, split, out), split, cfg, out)
    report = {
        "real": real.summary(),
        "fake": {"root": str(out), "kind": "one per row"},
        "config": asdict(cfg),
        "features": features,
        "comparisons": comparisons,
        "split": split.summary(),
        "notes": [
            FID_BIAS_NOTE,
            "IC-LPIPS clusters: the real shots.",
            "The defect-free row is a reference for 'no crack at all'.",
            "KID std is 0 where a subset is the whole of both sets.",
        ],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    _, md = write_report(
        report, out / "report", title="KSDD cracks: generation metrics vs held-out test cracks"
    )
    print(md.read_text())
    print(f"{report['seconds']} s; report in {md} and {md.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
