"""Several products in one model: product and defect tokens apart, a defect painted on another product."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.cli import main
from augment.data.imageio import read_image
from augment.data.index import index_folder
from augment.data.pairs import read_manifest
from augment.data.split import make_split
from augment.synth.batches import good_images_of, load_train_data, sample_batch
from augment.synth.options import FitConfig
from augment.synth.synthesizer import DefectSynthesizer

TINY = {"resolution": 16, "channels": (8, 16, 16)}
GEN = {"steps": 2, "quality_filter": False, "progress": False, "generator": 3}


@pytest.fixture(scope="module")
def two_products(tiny_pills: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pill (crack, scratch, spot) and tablet: the pills in inverted colours with 'dent' for 'spot'."""
    root = tmp_path_factory.mktemp("two")
    shutil.copytree(tiny_pills, root / "pill")
    tablet = shutil.copytree(tiny_pills, root / "tablet")
    for sub in ("test", "ground_truth"):
        (tablet / sub / "spot").rename(tablet / sub / "dent")
    for path in [*(tablet / "train").rglob("*.png"), *(tablet / "test").rglob("*.png")]:
        Image.fromarray(255 - read_image(path)).save(path)
    return root


@pytest.fixture(scope="module")
def fitted(two_products: Path) -> DefectSynthesizer:
    synth = DefectSynthesizer(**TINY)
    synth.fit(two_products, defects=["spot", "dent"], steps=2, batch_size=2, progress=False)
    return synth


def test_one_model_knows_every_product_and_defect(fitted: DefectSynthesizer) -> None:
    assert fitted.fitted.products == ("pill", "tablet")
    assert fitted.defects == ["dent", "spot"]
    vocab = fitted.backbone.tokenizer.get_vocab()
    assert {"<pill>", "<tablet>", "<spot>", "<dent>"} <= set(vocab)
    assert len(fitted.fitted.goods_of("tablet")) == len(fitted.fitted.goods_of("pill")) > 0
    assert all("/tablet/" in path for path in fitted.fitted.goods_of("tablet"))


def test_each_window_is_prompted_with_its_own_product(two_products: Path) -> None:
    split = make_split(index_folder(two_products))
    data = load_train_data(split, ["spot", "dent"], good_images_of(split))
    prompts = set()
    for seed in range(8):
        prompts |= set(
            sample_batch(data, FitConfig(resolution=16, batch_size=8), np.random.default_rng(seed)).prompts
        )
    defect_prompts = {p for p in prompts if " with a " in p}
    assert defect_prompts == {"a photo of a <pill> with a <spot>", "a photo of a <tablet> with a <dent>"}
    assert {"a photo of a <pill>", "a photo of a <tablet>"} <= prompts


def test_a_defect_is_painted_on_another_product(fitted: DefectSynthesizer, tmp_path: Path) -> None:
    pair = fitted.generate(1, defect="dent", product="pill", **GEN)[0]
    assert pair.record["product"] == "pill"
    assert pair.record["prompt"] == "a photo of a <pill> with a <dent>"
    assert "/pill/" in pair.record["source_image"]
    fitted.save_pretrained(tmp_path / "model")
    again = DefectSynthesizer.from_pretrained(tmp_path / "model")
    assert again.fitted.products == ("pill", "tablet")
    twin = again.reproduce(pair.record, read_image(pair.record["source_image"]))
    np.testing.assert_array_equal(twin.image, pair.image)


def test_text_to_image_names_the_product(fitted: DefectSynthesizer) -> None:
    pair = fitted.generate(1, defect="spot", product="tablet", mode="text2img", max_attempts=20, **GEN)[0]
    assert pair.record["prompt"] == "a photo of a <tablet> with a <spot>"


def test_unknown_product_is_refused(fitted: DefectSynthesizer) -> None:
    with pytest.raises(ValueError, match=r"fitted on products \['pill', 'tablet'\], not 'capsule'"):
        fitted.generate(1, defect="spot", product="capsule", **GEN)


def test_generate_command_paints_on_the_product_asked(
    fitted: DefectSynthesizer, two_products: Path, tmp_path: Path
) -> None:
    fitted.save_pretrained(tmp_path / "model")
    argv = ["generate", "--model", str(tmp_path / "model"), "--n", "1", "--out", str(tmp_path / "bank"),
            "--defect", "spot", "--product", "tablet", "--data", str(two_products), "--sample-steps", "2",
            "--no-quality-filter"]  # fmt: skip
    assert main(argv) == 0
    (record,) = read_manifest(tmp_path / "bank")
    assert record["product"] == "tablet"
    assert "/tablet/" in record["source_image"]
