"""The face latent model as a renderer (VASA-1 §3.1 at inference): the portrait is encoded once into its
canonical appearance volume and identity code, and each frame's pose and dynamics codes, made by the
motion generator, are decoded against them. For SynthTalk-domain portraits (the model has seen nothing
else); the frames are drawn at the model's size and resized to the requested resolution."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from labkit.faces.align import align_face
from labkit.faces.landmarks import find_face
from labkit.latent.config import make_config
from labkit.latent.model import FaceLatentModel, load_face_latent


class LatentRenderer:
    """The face latent model as a renderer: portrait encoded once, each frame's codes decoded."""

    def __init__(self, image: np.ndarray, resolution: int, *, aligned: bool, name: str, device: str = "cpu",
                 preset: str | None = None):
        if preset is None:
            self.model = load_face_latent(device=device)
        else:                                                    # timing only: same architecture, untrained
            with torch.random.fork_rng(devices=[]):              # seeded init without touching the caller's RNG
                torch.manual_seed(0)
                self.model = FaceLatentModel(make_config(preset)).to(device).eval()
        self.device = device
        size = self.model.cfg.image_size
        if aligned:
            crop = image if image.shape[0] == size else cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        else:
            crop = align_face(image, find_face(image, name=name).landmarks, size)[0]
        with torch.no_grad():
            x = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div(255).to(device)
            lat = self.model.encode(x)
            self.canonical, self.z_id = self.model.canonicalize(lat), lat.z_id
        self.P, self.resolution = lat.z_pose.shape[1], resolution
        self.z_pose = lat.z_pose[0].cpu().numpy()                # the portrait's own pose code

    def scale_head(self, codes: np.ndarray, scale: float) -> np.ndarray:
        """Codes (z_pose then z_dyn) with the pose code's departure from the portrait's scaled by `scale`."""
        codes = np.array(codes, np.float32)
        codes[:self.P] = self.z_pose + scale * (codes[:self.P] - self.z_pose)
        return codes

    def render_frame(self, codes: np.ndarray, emotion: int = 0) -> np.ndarray:
        """One frame's motion codes (z_pose then z_dyn) → (R, R, 3) uint8; `emotion` is read from the codes."""
        m = torch.from_numpy(np.asarray(codes, np.float32))[None].to(self.device)
        with torch.no_grad():
            x = self.model.decode(self.canonical, self.z_id, m[:, :self.P], m[:, self.P:])
        img = x[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
        if img.shape[0] != self.resolution:
            img = cv2.resize(img, (self.resolution, self.resolution), interpolation=cv2.INTER_CUBIC)
        return img
