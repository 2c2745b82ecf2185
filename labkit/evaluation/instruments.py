"""How good each instrument is (`labkit eval instrument`): LabSync, CAPP and the clip encoder on SynthTalk
test clips, against the checks each must pass to be trusted as a metric."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from labkit.evaluation.config import INSTRUMENT_CLIPS
from labkit.evaluators.capp import CAPP, pose_audio, shift_frames
from labkit.evaluators.labsync import LabSync, extract_sync_clips
from labkit.evaluators.video_features import VideoFeatureNet, factor_targets, render_windows
from labkit.metrics.fvd import fvd
from labkit.metrics.sync import sync_scores
from labkit.synthtalk.factors import FACTOR_NAMES


def evaluate_capp(model: CAPP, *, num_clips: int = INSTRUMENT_CLIPS["capp"], shifts: tuple[int, ...] = (1, 2, 3, 4),
                  cache_dir=None, progress: bool = False) -> dict:
    """CAPP on SynthTalk test clips: the score of true pose with its own audio, with another clip's
    audio, of a still head (the clip's mean pose held) with the audio, and with the pose moved by
    ±shift frames (VASA-1 shows CAPP falls as the pose slips)."""
    pose, audio = pose_audio("test", num_clips, cache_dir=cache_dir, progress=progress)
    still = np.broadcast_to(pose.mean(1, keepdims=True), pose.shape)
    out = {"matched": float(model.score(pose, audio).mean()),
           "mismatched": float(model.score(pose, np.roll(audio, 1, axis=0)).mean()),
           "still": float(model.score(still, audio).mean())}
    for k in shifts:
        out[f"shift_{k}"] = float(np.mean([model.score(shift_frames(pose, s), audio).mean() for s in (k, -k)]))
    out["clips"] = num_clips
    return out


def evaluate_labsync(model: LabSync, *, num_clips: int = INSTRUMENT_CLIPS["sync"],
                     shifts: tuple[int, ...] = (-6, -3, -1, 1, 3, 6), vshift: int = 15, cache_dir=None,
                     progress: bool = False) -> dict:
    """LabSync on SynthTalk test clips (unseen identities, voices and sentences), in sync and with
    the audio moved by `shifts` frames (positive = audio delayed). Returns S_C and S_D of the
    clips in sync, the share of clips whose detected offset is 0, and for the shifted audio the
    share whose detected offset is exactly −shift (SyncNet's sign: delayed audio reads negative)."""
    data = extract_sync_clips("test", num_clips, model.cfg, cache_dir=cache_dir, progress=progress)
    r = model.cfg.audio_rate
    sc, sd, ok0, ok_shift = [], [], [], []
    for crops, feats in zip(data["crops"], data["audio"]):
        crops = torch.from_numpy(crops).float() / 255
        feats = torch.from_numpy(feats.astype(np.float32))
        s = sync_scores(*model.embed_windows(crops, feats), vshift=vshift)
        sc.append(s.confidence)
        sd.append(s.min_dist)
        ok0.append(s.offset == 0)
        for k in shifts:                                   # feats[t] → feats[t - k]: the sound k frames later
            idx = np.clip(np.arange(len(feats)) - k * r, 0, len(feats) - 1)
            ok_shift.append(sync_scores(*model.embed_windows(crops, feats[idx]), vshift=vshift).offset == -k)
    return {"S_C": float(np.mean(sc)), "S_D": float(np.mean(sd)), "offset_acc": float(np.mean(ok0)),
            "shifted_offset_acc": float(np.mean(ok_shift)), "clips": len(sc)}


@torch.no_grad()
def evaluate_video_features(model: VideoFeatureNet, *, num_clips: int = INSTRUMENT_CLIPS["video-features"],
                            cache_dir=None, progress: bool = False) -> dict:
    """On one window of each of `num_clips` SynthTalk test clips: R² of each regressed factor
    (over the four target frames), emotion accuracy, and the FVD between two halves of the test
    windows (the sampling floor) and between the test windows and the same windows blurred or
    frozen on their first frame (the distance must grow)."""
    cfg = model.cfg
    data = render_windows("test", num_clips, cfg, cache_dir=cache_dir, progress=progress)
    n = np.arange(num_clips)
    factors, emotion = factor_targets(data, n, cfg)
    clips = torch.from_numpy(data["frames"])
    pred, logits = zip(*[model(clips[k:k + 64]) for k in range(0, num_clips, 64)])
    pred, logits = torch.cat(pred), torch.cat(logits)
    pred, factors = pred[:, :-1], factors[:, :-1]                                 # the factors at the target frames
    ss_res = ((pred - factors) ** 2).sum((0, 1))
    ss_tot = ((factors - factors.mean((0, 1))) ** 2).sum((0, 1)).clamp_min(1e-9)
    out = {f"r2_{name}": float(1 - r / t) for name, r, t in zip(FACTOR_NAMES, ss_res, ss_tot)}
    out["emotion_acc"] = float((logits.argmax(1) == emotion).float().mean())
    feats = model.video_features(data["frames"])
    half = num_clips // 2
    blurred = F.avg_pool2d(clips.flatten(0, 1).permute(0, 3, 1, 2).float(), 5, 1, 2).round().byte()
    blurred = blurred.permute(0, 2, 3, 1).reshape(clips.shape).numpy()
    frozen = np.repeat(data["frames"][:, :1], cfg.frames, axis=1)
    out["fvd_halves"] = fvd(feats[:half], feats[half:])
    out["fvd_blurred"] = fvd(feats[:half], model.video_features(blurred[half:]))
    out["fvd_frozen"] = fvd(feats[:half], model.video_features(frozen[half:]))
    out["clips"] = num_clips
    return out
