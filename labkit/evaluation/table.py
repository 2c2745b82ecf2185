"""``labkit eval``: VASA-1's comparison table (Table 1), reproduced on SynthTalk test clips.

Rows are methods, every one turned into a video of the same test clips and scored by the same
instruments from pixels and audio alone:

- ``gt``: the SynthTalk video itself (VASA-1's "real video" row);
- ``ours``: motion from the diffusion transformer (audio + the clip's gaze, distance and emotion
  commands), rendered with the clip's first frame as the portrait;
- ``regression``: the deterministic regression transformer of the same size, rendered the same way;
- ``puppet``: the audio-energy puppet (jaw from loudness, random sway; labkit.evaluation.motion);
- ``still``: the portrait held still for the whole clip;
- ``recon`` (on request, not a baseline): the clip's own motion drawn by the same renderer (latent:
  the codes the motion encoder reads from each real frame), so what the renderer alone does to true
  motion can be told from what the motion generator does.

Two renderers turn motion into pixels. ``latent`` (the default, the whole system): the face latent
model decodes the portrait's appearance volume with each frame's pose and dynamics codes; the
puppet's factors reach the latent space through a ridge map fit on training clips, and the still
row is the portrait's own reconstruction held, so every generated row passes the same decoder.
``synthtalk`` (an oracle latent space): generators trained on SynthTalk's factors, rendered by
SynthTalk's own renderer; it shows what the motion generator does when the latent space is perfect.

Columns (labkit.metrics), each a mean over clips:
- ``S_C`` ↑, ``S_D`` ↓: SyncNet's confidence and minimum distance, measured by LabSync (labkit.evaluators.labsync);
- ``CAPP`` ↑: VASA-1's audio–pose score (labkit.evaluators.capp) of the head pose read from the video;
  marked † and not ranked while it fails its own check (FAILING);
- ``dP``: ΔP, mean absolute frame-to-frame change of that pose (degrees), closer to ``gt`` is better;
- ``FVD`` ↓: Fréchet distance of 16-frame clip features (labkit.evaluators.video_features) to those of other
  real test clips (so the ``gt`` row shows the sampling floor);
- ``CSIM`` ↑: cosine of the face latent model's identity code of each frame with the portrait's;
- ``LMD`` ↓: mouth landmark distance (pixels at 128 px) of dlib's landmarks on every `lmd_every`-th
  frame, in the face box dlib finds on the portrait, against the clip's exact landmarks (the
  ``gt`` row shows the detector's own error).

Head pose is read from pixels by the face latent model's motion encoder and a ridge probe fit on
training clips (labkit.evaluation.motion.MotionReader), the same reader for every row.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from labkit.evaluation.config import EXTRA_METHODS, METHODS
from labkit.evaluation.motion import MotionReader, puppet_factors
from labkit.evaluators.capp import load_capp
from labkit.evaluators.labsync import load_labsync
from labkit.evaluators.video_features import load_video_features
from labkit.faces.landmarks import detect_faces, dlib_shape
from labkit.io.audio import log_mel
from labkit.io.weights import FACE_LATENT, resolve
from labkit.latent.model import load_face_latent, reference_rows
from labkit.metrics.fvd import fvd
from labkit.metrics.identity import csim
from labkit.metrics.landmarks import MOUTH, lmd
from labkit.metrics.pose import delta_p
from labkit.motion.data import MotionClips, emotion_offset, extract_clips, gaze_of
from labkit.synthtalk import SynthTalk
from labkit.synthtalk.factors import EMOTIONS, FACTOR_NAMES, clip_factors
from labkit.synthtalk.identity import sample_identity
from labkit.synthtalk.renderer import render

log = logging.getLogger(__name__)

METRICS = ("S_C", "S_D", "CAPP", "dP", "FVD", "CSIM", "LMD")
BETTER = {"S_C": "higher", "S_D": "lower", "CAPP": "higher", "dP": "closer to gt", "FVD": "lower",
          "CSIM": "higher", "LMD": "lower"}
ARROW = {"higher": "↑", "lower": "↓", "closer to gt": "→GT"}
RENDERERS = ("latent", "synthtalk")
BAR_METRICS = ("S_C", "S_D", "CAPP", "FVD", "dP")        # the bar: ours beats every baseline on these
# Instruments that fail their own check (labkit.evaluation.instruments): their column is marked † with this
# footnote and bars() does not rank on it. CAPP does not fall when the pose slips against the audio by ±1-4
# frames (VASA-1 §4.1 shows that it should), and on few clips it can score another clip's audio above the clip's
# own. What would fix it: a pose encoder made to read timing (velocity and onsets aligned with the audio, not
# only the amount of motion), many more time-shifted negatives and a longer training, and `labkit eval capp`
# showing a score that falls with the shift before this entry is removed.
FAILING = {"CAPP": "fails its own check (no drop when the pose is shifted by ±1-4 frames: 0.213 at every shift "
                   "on 100 clips; another clip's audio above the clip's own on 4 clips, 0.22 vs 0.20): not ranked"}
_ANGLES = [FACTOR_NAMES.index(n) for n in ("yaw", "pitch", "roll")]


# ---------------------------------------------------------------------------- the test clips

@dataclass
class TestSet:
    """N SynthTalk clips of T frames with everything the table needs."""
    frames: np.ndarray       # (N, T, H, W, 3) uint8, the real videos
    landmarks: np.ndarray    # (N, T, 68, 2) exact iBUG-68 landmarks (pixels)
    audio: np.ndarray        # (N, S) mono waveforms
    mel: np.ndarray          # (N, T, A) log-mel, one row per frame (the motion generator's and CAPP's input)
    factors: np.ndarray      # (N, T, F) ground-truth factors
    emotion: np.ndarray      # (N,) emotion index
    intensity: np.ndarray    # (N,) emotion intensity
    identity: np.ndarray     # (N,) SynthTalk identity ids
    sample_rate: int


def load_test_set(split: str, num_clips: int, *, seconds: float = 6.0, seed: int = 0,
                  languages: tuple[str, ...] | None = None, progress: bool = False) -> TestSet:
    """Render `num_clips` SynthTalk clips of `split` at 128 px (deterministic in `seed`)."""
    kw = {} if languages is None else {"languages": tuple(languages)}
    ds = SynthTalk(split=split, seconds=seconds, seed=seed, num_clips=num_clips, resolution=128, **kw)
    it = range(num_clips)
    if progress:
        it = tqdm(it, desc=f"SynthTalk {split} clips", unit="clip")
    clips = [ds[i] for i in it]
    factors = np.stack([np.stack([c["factors"][n] for n in FACTOR_NAMES], 1) for c in clips]).astype(np.float32)
    return TestSet(frames=np.stack([c["frames"] for c in clips]), landmarks=np.stack([c["landmarks"] for c in clips]),
                   audio=np.stack([c["audio"] for c in clips]).astype(np.float32),
                   mel=np.stack([log_mel(c["audio"], num_frames=len(c["frames"])) for c in clips]),
                   factors=factors, emotion=np.array([EMOTIONS.index(c["emotion"]) for c in clips]),
                   intensity=np.array([c["emotion_intensity"] for c in clips], np.float32),
                   identity=np.array([c["identity"] for c in clips]), sample_rate=int(clips[0]["sample_rate"]))


# ---------------------------------------------------------------------------- renderers

@torch.no_grad()
def encode_frames(model, frames: np.ndarray, *, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The face latent model's identity codes (T, Z_id) and motion codes [z_pose, z_dyn] (T, M) of
    frames (T, H, W, 3) uint8, `batch` frames at a time."""
    dev = next(model.parameters()).device
    ids, motion = [], []
    for k in range(0, len(frames), batch):
        x = torch.from_numpy(frames[k:k + batch]).permute(0, 3, 1, 2).float().div(255).to(dev)
        z_id, z_pose, z_dyn = model.encode_codes(x)
        ids.append(z_id.cpu())
        motion.append(torch.cat([z_pose, z_dyn], 1).cpu())
    return torch.cat(ids).numpy(), torch.cat(motion).numpy()


class LatentRenderer:
    """Motion codes [z_pose, z_dyn] → frames through the face latent model, portrait = a clip's first frame."""
    space = "latent"

    def __init__(self, model, train_factors: np.ndarray, train_motion: np.ndarray, *, batch: int = 50):
        self.model, self.batch = model, batch
        F, M = train_factors.shape[-1], train_motion.shape[-1]
        self._from_factors = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(
            train_factors.reshape(-1, F), train_motion.reshape(-1, M))

    def from_factors(self, factors: np.ndarray) -> np.ndarray:
        """Factors (N, T, F) → motion codes (N, T, M) by the ridge map (the puppet's way in)."""
        N, T, F = factors.shape
        return self._from_factors.predict(factors.reshape(-1, F)).reshape(N, T, -1).astype(np.float32)

    @torch.no_grad()
    def _portrait(self, portrait: np.ndarray):
        """(canonical volume, Latents, what G_part reads of it or None) of one portrait frame (H, W, 3) uint8."""
        x = torch.from_numpy(portrait).permute(2, 0, 1)[None].float().div(255).to(self._device)
        lat = self.model.encode(x)
        return self.model.canonicalize(lat), lat, self.model.part_reference(x, lat.z_pose)

    @property
    def _device(self):
        return next(self.model.parameters()).device

    @torch.no_grad()
    def render(self, test: TestSet, i: int, motion: np.ndarray) -> np.ndarray:
        """Clip i's portrait driven by motion (T, M) → frames (T, H, W, 3) uint8."""
        canonical, lat, ref = self._portrait(test.frames[i, 0])
        P = lat.z_pose.shape[1]
        m = torch.from_numpy(np.asarray(motion, np.float32)).to(self._device)
        out = []
        for k in range(0, len(m), self.batch):
            b = len(m[k:k + self.batch])
            x = self.model.decode(canonical.expand(b, *canonical.shape[1:]), lat.z_id.expand(b, -1),
                                  m[k:k + b, :P], m[k:k + b, P:], reference_rows(ref, b))
            out.append(x.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu())
        return torch.cat(out).numpy()

    def true_motion(self, test: TestSet, i: int) -> np.ndarray:
        """The motion codes (T, M) the motion encoder reads from clip i's real frames."""
        return encode_frames(self.model, test.frames[i], batch=self.batch)[1]

    @torch.no_grad()
    def still(self, test: TestSet, i: int) -> np.ndarray:
        """The portrait's reconstruction (its own codes), held for the clip's length."""
        _, lat, _ = self._portrait(test.frames[i, 0])
        frame = self.render(test, i, torch.cat([lat.z_pose, lat.z_dyn], 1).cpu().numpy())
        return np.repeat(frame, test.frames.shape[1], axis=0)


class SynthTalkRenderer:
    """Factors → frames through SynthTalk's own renderer (an oracle latent space), identity = the clip's."""
    space = "factors"

    def from_factors(self, factors: np.ndarray) -> np.ndarray:
        return factors

    def render(self, test: TestSet, i: int, motion: np.ndarray, emotion: int | None = None) -> np.ndarray:
        e = test.emotion[i] if emotion is None else emotion
        f = clip_factors({**{n: motion[:, k] for k, n in enumerate(FACTOR_NAMES)},
                          "emotion": np.full(len(motion), e, np.int64)})         # generated factors may overshoot
        return render(sample_identity(int(test.identity[i])), f, resolution=test.frames.shape[2]).frames

    def true_motion(self, test: TestSet, i: int) -> np.ndarray:
        return test.factors[i]

    def still(self, test: TestSet, i: int) -> np.ndarray:
        return np.repeat(test.frames[i, :1], test.frames.shape[1], axis=0)


# ---------------------------------------------------------------------------- methods → videos

def generate_motion(gen, test: TestSet, *, seed: int = 0) -> np.ndarray:
    """Motion (N, T, M) from each clip's audio and its true gaze, distance and emotion commands."""
    return gen.generate(test.mel, gaze=gaze_of(test.factors),
                        distance=test.factors[..., FACTOR_NAMES.index("distance")],
                        emotion=emotion_offset(test.emotion, test.intensity), seed=seed)


def method_videos(method: str, test: TestSet, renderer, *, generators: dict, seed: int = 0):
    """Yield the videos (T, H, W, 3) uint8 of `method` for each test clip."""
    N = len(test.frames)
    if method == "gt":
        yield from test.frames
        return
    if method == "still":
        for i in range(N):
            yield renderer.still(test, i)
        return
    if method == "recon":
        for i in range(N):
            yield renderer.render(test, i, renderer.true_motion(test, i))
        return
    if method == "puppet":
        clips = MotionClips(motion=test.factors, audio=test.mel, factors=test.factors, emotion=test.emotion,
                            intensity=test.intensity, language=np.array(["?"] * N))
        motion = renderer.from_factors(puppet_factors(clips, np.random.default_rng(seed)))
        kw = {"emotion": 0} if renderer.space == "factors" else {}
        for i in range(N):
            yield renderer.render(test, i, motion[i], **kw)
        return
    if method not in generators:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS + EXTRA_METHODS}")
    motion = generate_motion(generators[method], test, seed=seed)
    for i in range(N):
        yield renderer.render(test, i, motion[i])


# ---------------------------------------------------------------------------- the instruments

class Instruments:
    """LabSync, CAPP, the clip encoder, and the face latent model as pose and identity reader."""

    def __init__(self, *, labsync, capp, video_features, face_latent, pose_reader, lmd_every: int = 10):
        self.labsync, self.capp, self.video_features = labsync, capp, video_features
        self.face_latent, self.pose_reader, self.lmd_every = face_latent, pose_reader, lmd_every
        self._boxes: dict[int, np.ndarray] = {}                                 # clip → face box of its portrait

    def codes(self, frames: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Identity codes (T, Z_id) and motion codes (T, M) of frames (T, H, W, 3) uint8."""
        return encode_frames(self.face_latent, frames, batch=batch)

    def pose(self, frames: np.ndarray) -> np.ndarray:
        """Head yaw, pitch, roll (T, 3) degrees read from frames."""
        return self.pose_of_codes(self.codes(frames)[1])

    def pose_of_codes(self, motion: np.ndarray) -> np.ndarray:
        """Head yaw, pitch, roll (T, 3) degrees read from motion codes (T, M) by the probe."""
        return self.pose_reader.factors(motion[None])[0][:, _ANGLES]

    def face_box(self, test: TestSet, i: int) -> np.ndarray:
        """dlib's face box (left, top, right, bottom) on clip i's portrait, used for every frame of
        every method (the clips are face-centred crops; a detector run per frame misses the
        softer faces of a learned renderer); the exact landmarks' bounds if dlib finds no face."""
        if i not in self._boxes:
            boxes = detect_faces(test.frames[i, 0], upsample=1)
            lm = test.landmarks[i, 0]
            self._boxes[i] = boxes[0] if len(boxes) else np.array([*lm.min(0), *lm.max(0)], np.float32)
        return self._boxes[i]

    def landmarks(self, frames: np.ndarray, box: np.ndarray) -> np.ndarray:
        """dlib's 68 landmarks (K, 68, 2) in `box` on every lmd_every-th frame."""
        return np.stack([dlib_shape(frames[t], box) for t in range(0, len(frames), self.lmd_every)])

    def clip_metrics(self, frames: np.ndarray, test: TestSet, i: int) -> dict:
        """Every per-clip number of one video of test clip i (FVD needs the whole set: clip features)."""
        s = self.labsync.score(frames, test.audio[i], sample_rate=test.sample_rate)
        ids, motion = self.codes(frames)
        portrait_id, _ = self.codes(test.frames[i, :1])
        pose = self.pose_of_codes(motion)
        lm = self.landmarks(frames, self.face_box(test, i))
        return {"S_C": s.confidence, "S_D": s.min_dist, "offset": s.offset,
                "CAPP": float(self.capp.score(pose[None], test.mel[i][None])[0]), "dP": delta_p(pose),
                "CSIM": csim(portrait_id[0], ids),
                "LMD": lmd(lm, test.landmarks[i, ::self.lmd_every], points=MOUTH),
                "features": self.video_features.video_features([frames])}


def load_instruments(*, latent=None, labsync=None, capp=None, video_features=None, reader_clips: int = 200,
                     languages=None, cache_dir=None, progress: bool = False, lmd_every: int = 10,
                     device: str = "cpu") -> tuple[Instruments, object]:
    """The instruments (the shipped checkpoints unless paths are given), the pose reader fit on
    `reader_clips` training clips (cached extraction), and the training motion it was fit on
    (for the latent renderer's ridge map)."""
    latent = resolve(latent, "face_latent", FACE_LATENT)
    # the same clips as labkit.evaluation.motion.MotionEvaluation's training clips (one cached extraction)
    train = extract_clips("train", reader_clips, source=str(latent), seconds=8.0, seed=1, languages=languages,
                          cache_dir=cache_dir, progress=progress)
    model = load_face_latent(latent, device=device)
    inst = Instruments(labsync=load_labsync(labsync, device=device), capp=load_capp(capp, device=device),
                       video_features=load_video_features(video_features, device=device), face_latent=model,
                       pose_reader=MotionReader(train, 50), lmd_every=lmd_every)
    return inst, train


# ---------------------------------------------------------------------------- the table

def evaluate_table(methods=METHODS, *, renderer: str = "latent", generators: dict, instruments: Instruments,
                   train=None, split: str = "test", num_clips: int = 40, seconds: float = 6.0, seed: int = 0,
                   languages=None, progress: bool = False) -> tuple[dict, dict]:
    """The table {method: {metric: value}} over `num_clips` clips of `split`, and per method the
    share of clips whose lip-sync offset LabSync finds at 0 ({method: fraction})."""
    unknown = [m for m in methods if m not in METHODS + EXTRA_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(METHODS + EXTRA_METHODS)}")
    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}; choose from {RENDERERS}")
    space = "latent" if renderer == "latent" else "factors"
    for m in methods:
        if m in ("ours", "regression") and m not in generators:
            raise ValueError(f"method {m!r} needs a motion generator (generators[{m!r}])")
    for m, gen in generators.items():
        gen_space = "factors" if gen.meta.get("motion") == "factors" else "latent"
        if gen_space != space:
            raise ValueError(f"the {m!r} generator makes {gen_space} motion, but the {renderer!r} renderer draws "
                             f"{space} motion; use --renderer {'synthtalk' if gen_space == 'factors' else 'latent'}")
    test = load_test_set(split, num_clips, seconds=seconds, seed=seed, languages=languages, progress=progress)
    # FVD's real reference: other clips of the same split (the gt row then shows the sampling floor)
    ref = load_test_set(split, num_clips, seconds=seconds, seed=seed + 1000, languages=languages, progress=progress)
    ref_features = instruments.video_features.video_features(ref.frames)
    if renderer == "latent":
        if train is None:
            raise ValueError("the latent renderer needs the training motion (train=) for the puppet's ridge map")
        rend = LatentRenderer(instruments.face_latent, train.factors, train.motion)
    else:
        rend = SynthTalkRenderer()
    table, in_sync = {}, {}
    for m in methods:
        videos = method_videos(m, test, rend, generators=generators, seed=seed)
        if progress:
            videos = tqdm(videos, total=num_clips, desc=f"eval {m}", unit="clip")
        rows = [instruments.clip_metrics(v, test, i) for i, v in enumerate(videos)]
        feats = np.concatenate([r.pop("features") for r in rows])
        table[m] = {k: fvd(feats, ref_features) if k == "FVD" else float(np.mean([r[k] for r in rows]))
                    for k in METRICS}
        in_sync[m] = float(np.mean([r["offset"] == 0 for r in rows]))
    return table, in_sync


def bars(table: dict) -> dict[str, bool | None]:
    """The table's bars: ours beats every baseline present on S_C, S_D, CAPP and FVD, and its ΔP is
    closer to gt's than every baseline's (None where a needed row is missing). Columns in FAILING
    are left out: an instrument that fails its own check ranks nothing."""
    base = [m for m in ("regression", "puppet", "still") if m in table]
    out: dict[str, bool | None] = {}
    for k in (k for k in BAR_METRICS if k not in FAILING):
        if "ours" not in table or not base or (k == "dP" and "gt" not in table):
            out[k] = None
            continue
        if k == "dP":
            gap = {m: abs(table[m]["dP"] - table["gt"]["dP"]) for m in ["ours", *base]}
            out[k] = all(gap["ours"] < gap[m] for m in base)
        elif BETTER[k] == "higher":
            out[k] = all(table["ours"][k] > table[m][k] for m in base)
        else:
            out[k] = all(table["ours"][k] < table[m][k] for m in base)
    return out


def _column(k: str) -> str:
    """A column's name in the written table: ΔP for dP, and a dagger on a failing instrument's."""
    return ("ΔP" if k == "dP" else k) + ("†" if k in FAILING else "")


def _footnotes() -> list[str]:
    return [f"{_column(k)} {why}" for k, why in FAILING.items()]


def to_markdown(table: dict) -> str:
    """The table in markdown, a footnote line under it for each column in FAILING."""
    head = "| method | " + " | ".join(f"{_column(k)} {ARROW[BETTER[k]]}" for k in METRICS) + " |"
    lines = [head, "|---" * (len(METRICS) + 1) + "|"]
    for m in table:
        lines.append(f"| {m} | " + " | ".join(f"{table[m][k]:.3f}" for k in METRICS) + " |")
    notes = _footnotes()
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def to_csv(table: dict) -> str:
    """The table as CSV (ΔP spelled dP), the footnotes as trailing `#` lines (pandas: comment="#")."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", *(_column(k).replace("ΔP", "dP") for k in METRICS)])
    for m in table:
        w.writerow([m, *(f"{table[m][k]:.6g}" for k in METRICS)])
    return buf.getvalue() + "".join(f"# {note}\n" for note in _footnotes())
