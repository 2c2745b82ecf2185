"""Faces in real images, offline: detection, 68 landmarks (dlib or FAN), alignment to SynthTalk's
canonical framing, head pose, eye/mouth openness, a coarse gaze and identity embeddings.

    face = find_face(image)                                   # Face(box, score, landmarks, backend)
    crop, M, lm = align_face(image, face.landmarks, 256)      # SynthTalk's framing
    pose = head_pose(face.landmarks, image.shape[:2])         # yaw, pitch, roll in SynthTalk's conventions
    validate()                                                # every estimator vs SynthTalk ground truth
"""
from labkit.faces.align import ALIGN_POINTS, align_face, apply_affine, similarity_transform
from labkit.faces.expression import eye_openness, eyes_closed, mouth_openness
from labkit.faces.gaze import gaze_angles, iris_offsets
from labkit.faces.identity import identity_embedding, identity_similarity
from labkit.faces.image import as_rgb
from labkit.faces.landmarks import (
                                    BACKENDS,
                                    IOD_POINTS,
                                    Face,
                                    LandmarkDetector,
                                    detect_faces,
                                    dlib_landmarks,
                                    find_face,
                                    landmark_error_iod,
)
from labkit.faces.pose import HeadPose, head_pose
from labkit.faces.template import canonical_template, mean_face
from labkit.faces.validation import validate

__all__ = ["ALIGN_POINTS", "align_face", "apply_affine", "similarity_transform", "eye_openness", "eyes_closed",
           "mouth_openness", "gaze_angles", "iris_offsets", "identity_embedding", "identity_similarity", "as_rgb",
           "BACKENDS", "IOD_POINTS", "Face", "LandmarkDetector", "detect_faces", "dlib_landmarks", "find_face",
           "landmark_error_iod", "HeadPose", "head_pose", "canonical_template", "mean_face", "validate"]
