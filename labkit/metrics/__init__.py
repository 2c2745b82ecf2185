"""Metrics: pure functions over arrays and tensors. They never import training code.

Image similarity (:mod:`labkit.metrics.image`) and, one metric per file, the
disentanglement scores of disentanglement_lib (DCI, MIG, SAP, modularity).
"""
from labkit.metrics.image import ms_ssim, psnr, ssim
from labkit.metrics.dci import dci
from labkit.metrics.mig import mig
from labkit.metrics.modularity import modularity
from labkit.metrics.sap import sap
from labkit.metrics.utils import histogram_discretize

__all__ = ["ms_ssim", "psnr", "ssim"]
__all__ += ["dci", "histogram_discretize", "mig", "modularity", "sap"]
