"""Generate a bank of pairs with several processes, each rank writing only its own indices.

``accelerate launch --multi_gpu --num_processes 2 examples/sharded_generate.py --model MODEL_DIR
--n 20 --out BANK`` (on a machine without CUDA this runs 2 CPU processes over gloo; accelerate's
``--cpu --num_processes 2`` would start only one process unless MPI is configured).
"""

from __future__ import annotations

import argparse

import torch

from augment.loaders.sharding import generate_sharded
from augment.processes import process_rank
from augment.synth.synthesizer import DefectSynthesizer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder written by 'defect-synth fit'")
    parser.add_argument("--n", type=int, required=True, help="pairs in total, over all processes")
    parser.add_argument("--out", required=True, help="bank folder (MVTec layout + manifest.jsonl)")
    parser.add_argument("--defect", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-steps", type=int, default=25)
    parser.add_argument("--no-quality-filter", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    rank, world = process_rank()
    synth = DefectSynthesizer.from_pretrained(args.model)
    written = generate_sharded(
        synth,
        args.n,
        args.out,
        defect=args.defect,
        seed=args.seed,
        rank=rank,
        world_size=world,
        steps=args.sample_steps,
        quality_filter=not args.no_quality_filter,
        progress=False,
    )
    print(
        f"rank {rank}/{world}: wrote indices {written[0] if written else '-'}..{written[-1] if written else '-'} "
        f"({len(written)} pairs)"
    )


if __name__ == "__main__":
    main()
