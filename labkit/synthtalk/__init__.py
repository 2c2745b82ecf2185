"""SynthTalk: a procedural talking-head dataset with exact ground truth for every factor.

    speech (espeak-ng) → motion factors → 3D head rig → rasterizer → frames + landmarks

Public API::

    SynthTalk(split="train", resolution=128, seconds=4.0, seed=0)   # torch Dataset
    render(identity, factors, resolution=128)                       # any identity, any motion
    sample_identity(i), generate_motion(...), synthesize(...), export(...)
"""
from labkit.synthtalk.dataset import SPLITS, SynthTalk, split_identities, split_sentences, split_voices
from labkit.synthtalk.export import export, load_clip
from labkit.synthtalk.factors import EMOTIONS, FACTOR_NAMES, FACTORS, neutral_factors, validate_factors
from labkit.synthtalk.identity import Identity, sample_identity
from labkit.synthtalk.motion import MOTION_VERSION, frame_rms, generate_motion
from labkit.synthtalk.renderer import RESOLUTIONS, Renderer, Rendering, render
from labkit.synthtalk.speech import LANGUAGES, Voice, synthesize

__all__ = ["SPLITS", "SynthTalk", "split_identities", "split_sentences", "split_voices", "export", "load_clip",
           "Identity", "sample_identity", "EMOTIONS", "FACTOR_NAMES", "FACTORS", "MOTION_VERSION", "frame_rms",
           "generate_motion",
           "neutral_factors", "validate_factors", "RESOLUTIONS", "Renderer", "Rendering", "render", "LANGUAGES",
           "Voice", "synthesize"]
