"""Metrics: pure functions over arrays and tensors. They never import training code.

Image similarity (:mod:`labkit.metrics.image`) and, one metric per file, the
disentanglement scores of disentanglement_lib (DCI, MIG, SAP, modularity) and the
talking-face video scores: Fréchet distance / FVD over clip features (:mod:`~.fvd`),
head-motion intensity ΔP (:mod:`~.pose`), SyncNet lip-sync S_D, S_C and offset
(:mod:`~.sync`), landmark distance LMD (:mod:`~.landmarks`) and identity similarity
CSIM (:mod:`~.identity`).
"""
from labkit.metrics.dci import dci
from labkit.metrics.fvd import feature_stats, frechet_distance, fvd
from labkit.metrics.identity import csim
from labkit.metrics.image import ms_ssim, psnr, ssim
from labkit.metrics.landmarks import lmd
from labkit.metrics.mig import mig
from labkit.metrics.modularity import modularity
from labkit.metrics.pose import delta_p
from labkit.metrics.sap import sap
from labkit.metrics.sync import SyncScores, offset_distances, sync_scores
from labkit.metrics.utils import histogram_discretize

__all__ = ["ms_ssim", "psnr", "ssim"]
__all__ += ["dci", "histogram_discretize", "mig", "modularity", "sap"]
__all__ += ["SyncScores", "csim", "delta_p", "feature_stats", "frechet_distance", "fvd", "lmd",
            "offset_distances", "sync_scores"]
