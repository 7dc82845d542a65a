"""Floor 3, models: the diffusers components one code path trains and samples with.

The `Backbone` dataclass, the embedded default built from a config, pretrained checkpoints, LoRA
adapters and textual-inversion tokens, prompt conditioning, cross-attention capture and the weights'
fingerprint. Imports from `augment.masks` (Otsu thresholding), `augment.data` and floor 0.
"""
