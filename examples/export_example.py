"""Export an augmented dataset once (MVTec layout + manifest) and read it back.

python examples/export_example.py --model MODEL_OR_BANK --data DATA_DIR --out OUT_DIR [--ratio 2.0]
"""

from __future__ import annotations

import argparse

from augment.data.index import index_folder
from augment.loaders.export import export_dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="saved synthesizer or bank of pairs")
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ratio", type=float, default=2.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    counts = export_dataset(args.model, args.data, args.out, ratio=args.ratio)
    print(counts, index_folder(args.out).counts())


if __name__ == "__main__":
    main()
