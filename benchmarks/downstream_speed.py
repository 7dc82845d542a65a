"""How fast the downstream benchmark trains on this CPU: model size, channels-last, worker processes.

Part ``layout``: for each model variant, training steps/s and one validation pass (predict the split's
validation images + score them), with channels-last on and off, in this process with one torch
thread; variants interleaved over ``--repeats`` rounds, medians printed (timings here swing).
Part ``workers``: the same small benchmark (2 arms × 2 seeds) with ``workers=1`` and ``workers=2``
(each job one thread), interleaved; it also checks that both give the same numbers.

    python benchmarks/downstream_speed.py --data ../shared/datasets/ksdd --resolution 320 --crop 128 \
        --steps 20 --repeats 3 --out /work/runs/bench/speed
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from augment.data.index import index_folder, load_sample_arrays
from augment.data.split import make_split
from downstream.config import BenchmarkConfig
from downstream.data import SegmentationSet, target_size, train_augmentation
from downstream.protocol import load_items, run_benchmark
from downstream.scoring import load_eval_set
from downstream.selection import BestCheckpoint
from downstream.trainer import TrainConfig, Trainer, build_model

VARIANTS = {
    "resnet18 d5 (256..16)": {
        "encoder": "resnet18",
        "encoder_depth": 5,
        "decoder_channels": [256, 128, 64, 32, 16],
    },
    "resnet18 d4 (128..16)": {
        "encoder": "resnet18",
        "encoder_depth": 4,
        "decoder_channels": [128, 64, 32, 16],
    },
    "resnet10t d4 (64..8)": {
        "encoder": "tu-resnet10t",
        "encoder_depth": 4,
        "decoder_channels": [64, 32, 16, 8],
    },
}


def layout_round(data: dict, variant: str, channels_last: bool, steps: int, batch: int) -> dict[str, float]:
    model = build_model("Unet", seed=0, **VARIANTS[variant])
    config = TrainConfig(steps=steps, batch_size=batch, seed=0, channels_last=channels_last, progress=False)
    trainer = Trainer(model, SegmentationSet(data["items"], train_augmentation(0, data["crop"])), config)
    t0 = time.perf_counter()
    trainer.run()
    train_s = time.perf_counter() - t0
    keeper = BestCheckpoint(
        data["validation"], every=1, bins=1000, batch_size=batch, channels_last=channels_last
    )
    trainer.step = steps  # one validation pass, as at the last step
    t0 = time.perf_counter()
    keeper(trainer)
    return {"steps_per_s": steps / train_s, "validation_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--resolution", type=int, default=320)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="layout,workers")
    parser.add_argument("--variant", default="resnet18 d5 (256..16)", help="model of the workers part")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    split = make_split(index_folder(args.data))

    size = target_size(load_sample_arrays(split.good_train[0])[0].shape, args.resolution)
    crop = (min(args.crop, size[0]), min(args.crop, size[1]))
    data = {
        "items": load_items(split.shots, size, "real") + load_items(split.good_train, size, "real"),
        "validation": load_eval_set(split.validation, size),
        "crop": crop,
    }
    out: dict = {"input_size": size, "crop": crop, "validation_images": len(split.validation), "rounds": []}
    parts = args.parts.split(",")
    if "layout" in parts:
        for r in range(args.repeats):
            for variant in VARIANTS:
                for cl in (True, False):
                    res = layout_round(data, variant, cl, args.steps, args.batch_size)
                    out["rounds"].append({"round": r, "variant": variant, "channels_last": cl, **res})
                    print(json.dumps(out["rounds"][-1]), flush=True)
        out["layout_medians"] = {
            f"{v} / channels_last={cl}": {
                k: statistics.median(
                    x[k] for x in out["rounds"] if x["variant"] == v and x["channels_last"] == cl
                )
                for k in ("steps_per_s", "validation_s")
            }
            for v in VARIANTS
            for cl in (True, False)
        }
    if "workers" in parts:
        walls: dict[int, list[float]] = {1: [], 2: []}
        runs = {}
        for _ in range(args.repeats):
            for workers in (1, 2):
                config = BenchmarkConfig(
                    arms=("real", "copy-paste"),
                    seeds=(0, 1),
                    steps=args.steps,
                    eval_every=args.steps,
                    resolution=args.resolution,
                    crop=args.crop,
                    batch_size=args.batch_size,
                    workers=workers,
                    progress=False,
                    n_boot=100,
                    **VARIANTS[args.variant],
                )
                t0 = time.perf_counter()
                result = run_benchmark(split, config)
                walls[workers].append(time.perf_counter() - t0)
                runs[workers] = [{k: v for k, v in r.items() if k != "seconds"} for r in result["runs"]]
                print(json.dumps({"workers": workers, "wall_s": walls[workers][-1]}), flush=True)
        out["workers_wall_s"] = {w: {"median": statistics.median(v), "all": v} for w, v in walls.items()}
        out["workers_identical_results"] = runs[1] == runs[2]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "speed.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "rounds"}, indent=2))


if __name__ == "__main__":
    main()
