"""The synthesizer's configuration and its fitted state, as two dataclasses that are the schema.

``SynthConfig`` holds the constructor arguments that shape the model (saved as ``config.json``, as
diffusers does); ``FittedState`` holds what ``fit`` learnt about the data (saved apart, as
``fitted.json``). ``DefectSynthesizer(backbone, **config, **fitted)`` rebuilds a synthesizer from
the two: there is no other list of keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["FittedState", "SynthConfig"]


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of the dataclass ``cls`` (a saved file holds more)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class SynthConfig:
    """``resolution``: side (image pixels) of the square window the model denoises, at the image's
    own scale; ``channels``: UNet widths of the embedded default; ``seed``: its initial weights."""

    resolution: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 96)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resolution is None:  # "not given" (a pretrained backbone's is its native size)
            object.__setattr__(self, "resolution", SynthConfig.resolution)
        if isinstance(self.resolution, bool) or int(self.resolution) < 8:
            raise ValueError(f"resolution must be an integer >= 8 pixels, got {self.resolution!r}.")
        object.__setattr__(self, "resolution", int(self.resolution))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "seed", int(self.seed))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynthConfig:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class FittedState:
    """What ``fit`` learnt: the ``product`` name, its ``defects`` types, the ``good_images`` (paths
    of defect-free images) that generation paints into by default, whether the data is
    ``grayscale`` (then generated images are made gray too), and the ``bit_depth`` its data's 16-bit
    images were read with (image paths given to generation are read with it too). A model of several
    products lists them all in ``products`` (``product`` is the first) and the product of each good
    image in ``good_products`` (empty: all are ``product``'s). ``shot_images`` are the paths of the
    real defect images it was fitted on (empty in models saved before it existed), so a benchmark
    can tell whether the model has seen an image it is scored on (``downstream.provenance``)."""

    product: str | None = None
    defects: tuple[str, ...] = ()
    good_images: tuple[str, ...] = ()
    grayscale: bool = False
    bit_depth: int | None = None
    products: tuple[str, ...] = ()
    good_products: tuple[str, ...] = ()
    shot_images: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", tuple(str(d) for d in self.defects))
        object.__setattr__(self, "good_images", tuple(str(p) for p in self.good_images))
        object.__setattr__(self, "grayscale", bool(self.grayscale))
        products = tuple(str(p) for p in self.products)
        if self.product is not None and self.product not in products:
            products = (self.product, *products)
        object.__setattr__(self, "products", products)
        object.__setattr__(self, "good_products", tuple(str(p) for p in self.good_products))
        object.__setattr__(self, "shot_images", tuple(str(p) for p in self.shot_images))

    def goods_of(self, product: str) -> tuple[str, ...]:
        """The defect-free images of ``product`` that generation paints into by default."""
        if not self.good_products:
            return self.good_images if product == self.product else ()
        return tuple(g for g, p in zip(self.good_images, self.good_products, strict=True) if p == product)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "defects": list(self.defects),
            "good_images": list(self.good_images),
            "grayscale": self.grayscale,
            "bit_depth": self.bit_depth,
            "products": list(self.products),
            "good_products": list(self.good_products),
            "shot_images": list(self.shot_images),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedState:
        return cls(**_known(cls, data))
