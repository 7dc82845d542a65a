"""The embedded default backbone: a small pixel-space inpainting diffusion model built from configs.

Nothing is downloaded: the UNet (``UNet2DConditionModel``, 7 input channels = 3 noisy RGB + 1 mask
+ 3 masked RGB), a small ``CLIPTextModel`` and a ``CLIPTokenizer`` with a tiny local vocabulary
are built from configs with seeded random weights, then trained from scratch by ``fit``. It is
the same architecture family as Stable Diffusion inpainting, so one code path serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from augment.models.backbone import Backbone

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
# Words of the prompt template get single tokens; anything else falls back to characters.
WORDS = ("a", "photo", "of", "with", "and", "the", "an", "image", "defect", "good")
MAX_LENGTH = 16


def _bytes_to_unicode() -> list[str]:
    """CLIP's printable stand-ins for the 256 byte values (same table as its byte-level BPE)."""
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def build_tokenizer(words: Sequence[str] = WORDS, max_length: int = MAX_LENGTH) -> CLIPTokenizer:
    """A CLIP BPE tokenizer with a tiny vocabulary (bytes + the template words), no hub files."""
    chars = _bytes_to_unicode()
    vocab: dict[str, int] = {}
    for token in [BOS, EOS, *chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in words:
        parts = [*list(word[:-1]), word[-1] + "</w>"]
        left = parts[0]
        for right in parts[1:]:
            merged = left + right
            if merged not in vocab:
                merges.append((left, right))
                vocab[merged] = len(vocab)
            left = merged
    # CLIPTokenizer hands merges straight to tokenizers' BPE, which takes (left, right) pairs;
    # transformers annotates the argument as list[str].
    tok = CLIPTokenizer(
        vocab=vocab,
        merges=cast(list[str], merges),
        unk_token=EOS,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
    )
    tok.model_max_length = max_length
    return tok


def build_text_encoder(
    vocab_size: int,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    max_length: int = MAX_LENGTH,
    bos_id: int = 0,
    eos_id: int = 1,
) -> CLIPTextModel:
    """A small CLIP text transformer (random weights)."""
    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=max_length,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    return CLIPTextModel(config)


def build_unet(
    resolution: int,
    channels: Sequence[int] = (32, 64, 96),
    cross_dim: int = 64,
    layers_per_block: int = 1,
    head_dim: int = 16,
    attention_levels: int = 1,
) -> UNet2DConditionModel:
    """Pixel-space inpainting UNet: in 7 = noisy RGB + mask + masked RGB, out 3.

    Cross-attention sits only on the ``attention_levels`` coarsest levels (and the middle block):
    the defect type is a property of the whole window, and attention at full resolution costs
    about 40% of a CPU training step for no visible gain.
    """
    n = len(channels)
    attn = min(max(attention_levels, 0), n)
    return UNet2DConditionModel(
        sample_size=resolution,
        in_channels=7,
        out_channels=3,
        block_out_channels=tuple(channels),
        down_block_types=("DownBlock2D",) * (n - attn) + ("CrossAttnDownBlock2D",) * attn,
        up_block_types=("CrossAttnUpBlock2D",) * attn + ("UpBlock2D",) * (n - attn),
        layers_per_block=layers_per_block,
        cross_attention_dim=cross_dim,
        attention_head_dim=head_dim,
        norm_num_groups=min(8, channels[0]),
    )


def build_scheduler(train_steps: int = 1000) -> DDPMScheduler:
    """Training scheduler; samplers derive from its config.

    Cosine betas suit small pixel-space models; the UNet predicts the clean image (``sample``),
    which a small model trained for a few hundred steps renders smoothly, where noise (epsilon or
    v) prediction leaves coloured speckle in thin defects.
    """
    return DDPMScheduler(
        num_train_timesteps=train_steps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        clip_sample=True,
    )


def build_embedded_backbone(
    resolution: int = 48,
    channels: Sequence[int] = (32, 64, 96),
    text_hidden: int = 64,
    text_layers: int = 2,
    seed: int = 0,
) -> Backbone:
    """Build the embedded default with seeded random weights (same seed -> same weights)."""
    if resolution < 8 or resolution % 2 ** (len(channels) - 1):
        raise ValueError(
            f"resolution must be >= 8 and divisible by {2 ** (len(channels) - 1)} "
            f"(the UNet downsamples {len(channels) - 1} times), got {resolution}."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer = build_tokenizer()
        text_encoder = build_text_encoder(
            len(tokenizer),
            hidden=text_hidden,
            layers=text_layers,
            bos_id=tokenizer.bos_token_id,
            eos_id=tokenizer.eos_token_id,
        )
        unet = build_unet(resolution, channels, cross_dim=text_hidden)
    return Backbone(
        unet=unet,
        scheduler=build_scheduler(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        family="embedded",
        source="embedded",
    )
