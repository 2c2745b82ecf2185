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
from labkit.latent.model import FaceLatentModel, load_face_latent, reference_rows
from labkit.latent.readout import factor_reader
from labkit.motion.blinks import BlinkAxis

# pixels decoded together, 8 frames at 128 px: a frame costs less in a batch of a few (the warp generator's
# 3D convolutions have a fast kernel only for batches), but a batch of larger frames leaves the CPU's caches
BATCH_PIXELS = 8 * 128 * 128


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
        size = self.model.cfg.driver_size                       # the portrait as finely as E_mot reads it
        self.batch = max(1, BATCH_PIXELS // self.model.cfg.image_size ** 2)   # frames decoded together
        if aligned:
            crop = image if image.shape[0] == size else cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        else:
            crop = align_face(image, find_face(image, name=name).landmarks, size)[0]
        with torch.inference_mode():
            x = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div(255).to(device)
            lat = self.model.encode(x)
            self.canonical, self.z_id = self.model.canonicalize(lat), lat.z_id   # (1, C, D, Hv, Wv), (1, Z_id)
            self.reference = self.model.part_reference(x, lat.z_pose)           # what G_part reads of it, if any
        self.P, self.resolution = lat.z_pose.shape[1], resolution
        self.z_pose = lat.z_pose[0].cpu().numpy()                # the portrait's own pose code
        self.codes = torch.cat([lat.z_pose, lat.z_dyn], 1)[0].cpu().numpy()     # and its whole motion (M,)
        # blinks measured from the portrait's own codes, whose eyes are taken as open
        self.blink_axis = BlinkAxis.from_reader(factor_reader(self.model), self.P, open=self.codes)

    def scale_head(self, codes: np.ndarray, scale: float) -> np.ndarray:
        """Codes (..., M), z_pose then z_dyn, with the pose code's departure from the portrait's scaled by `scale`."""
        codes = np.array(codes, np.float32)
        codes[..., :self.P] = self.z_pose + scale * (codes[..., :self.P] - self.z_pose)
        return codes

    def render_frame(self, codes: np.ndarray, emotion: int = 0) -> np.ndarray:
        """One frame's motion codes (z_pose then z_dyn) → (R, R, 3) uint8; `emotion` is read from the codes."""
        return self.render_frames(np.asarray(codes)[None])[0]

    def render_frames(self, codes: np.ndarray, *, batch: int | None = None) -> np.ndarray:
        """Several frames' motion codes (T, M) → (T, R, R, 3) uint8, what render_frame draws of each row,
        decoded `batch` rows at a time (default: all T at once; `self.batch` is the fastest per frame).

        With `batch`, the last group is padded to `batch` rows by repeating its last row: the size of a
        batch changes the convolutions' order of summation, and so a few pixels by one level, and this way
        every frame is drawn by a decode of the same size however the frames were grouped.
        """
        codes, M, R = np.asarray(codes, np.float32), self.P + self.model.cfg.dyn_dim, self.resolution
        if codes.ndim != 2 or codes.shape[1] != M:
            raise ValueError(f"codes must be (T, {M}), got {codes.shape}")
        T = len(codes)
        if T == 0:
            return np.zeros((0, R, R, 3), np.uint8)
        batch = batch or T
        if T % batch:
            codes = np.concatenate([codes, np.repeat(codes[-1:], batch - T % batch, 0)])
        imgs = np.concatenate([self._decode(codes[k:k + batch]) for k in range(0, len(codes), batch)])[:T]
        if imgs.shape[1] != R:
            imgs = np.stack([cv2.resize(img, (R, R), interpolation=cv2.INTER_CUBIC) for img in imgs])
        return imgs

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes (B, M) → (B, H, W, 3) uint8 at the model's size, one decode against the portrait's volume."""
        m = torch.from_numpy(codes).to(self.device)
        B = m.shape[0]
        with torch.inference_mode():
            ref = reference_rows(self.reference, B)
            x = self.model.decode(self.canonical.expand(B, *self.canonical.shape[1:]), self.z_id.expand(B, -1),
                                  m[:, :self.P], m[:, self.P:], ref)                  # (B, 3, H, W) in [0, 1]
            return x.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).contiguous().cpu().numpy()
