"""The file and folder names the library writes and recognises, named once.

A folder holding ``MANIFEST`` is a bank of pairs; one holding ``CONFIG`` is a saved synthesizer.
"""

from __future__ import annotations

__all__ = [
    "BANK_STATE",
    "CHECKPOINT",
    "CHECKPOINTS",
    "CLASS_EMBEDDINGS",
    "COCO",
    "CONFIG",
    "CONTACT_SHEET",
    "EXPORT_STATE",
    "FITTED",
    "LORA",
    "MANIFEST",
    "REFINER",
    "RUN",
    "SHOTS",
    "SPLIT",
    "SUMMARY",
    "TOKENS",
    "VALIDATION",
    "YOLO",
    "YOLO_DATA",
]

MANIFEST = "manifest.jsonl"  # one JSON record per pair of a bank or an export
CONFIG = "config.json"  # a saved synthesizer's configuration (its constructor arguments)
FITTED = "fitted.json"  # what fitting learnt: product, defect types, defect-free images, fingerprint
SHOTS = "shots.safetensors"  # the fitted few-shot images and masks
LORA = "lora"  # folder of LoRA adapters in diffusers format (stock load_lora_weights reads it)
CLASS_EMBEDDINGS = (
    "class_embeddings.safetensors"  # a UNet's class rows per defect type, tokens in its metadata
)
TOKENS = "tokens"  # folder of learned tokens, one <token>.safetensors each (load_textual_inversion reads it)
CHECKPOINT = "checkpoint.pt"  # the fit loop's resumable state
CHECKPOINTS = "checkpoints"  # folder of CHECKPOINT under a fit's output folder
VALIDATION = "validation"  # folder of validation contact sheets under a fit's output folder
SPLIT = "split.json"  # a saved few-shot split
CONTACT_SHEET = "contact_sheet.png"  # the picture a command writes next to its output
SUMMARY = "summary.json"  # the demo's machine-readable summary
EXPORT_STATE = ".defect-synth-export.json"  # names the job an export folder holds
COCO = "coco.json"  # an export's COCO instances, file names relative to the export root
YOLO = "yolo"  # folder of an export's YOLO view: images/ (links), labels/ and YOLO_DATA
YOLO_DATA = "data.yaml"  # the YOLO view's dataset file (root, image folders, class names)
BANK_STATE = ".defect-synth-bank.json"  # marks a bank written by generate and lists its runs
REFINER = "refiner"  # a saved synthesizer's fitted SDXL refiner (lora/, tokens/), and its fit's checkpoints
RUN = "run.json"  # under CHECKPOINTS: what a resumed fit must match (data, settings)
