"""labkit: a notebook-first research lab kit for audio-driven talking faces.

An open, laptop-scale reproduction of VASA-1 (Xu et al., 2024, arXiv 2404.10667):
a disentangled face latent space and a diffusion transformer over face motion, trained
and measured on SynthTalk, a procedural talking-head dataset with exact ground truth.

Shape glossary, used in every docstring and shape comment:
    B  batch            T  frames (video, 25 fps by default)     S  audio samples
    H, W  image height and width (pixels)                         C  image channels (3, RGB)
    D  model width      Z  latent size     F  number of motion factors     L  landmarks (68)
"""
from labkit.version import __version__ as __version__

__all__ = ["animate", "stream"]


def __getattr__(name: str):
    """``labkit.animate`` and ``labkit.stream`` (imported on first use, so ``import labkit`` stays light)."""
    if name in __all__:
        from labkit import pipeline
        return getattr(pipeline, name)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
