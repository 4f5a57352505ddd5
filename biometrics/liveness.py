"""Liveness over a short frame sequence (pure: works on per-frame observations).

Challenge: the worker turns the head (left, right or either). A real head turn moves the nose
against the eye line (yaw proxy from the 5-point landmarks, which are CC0-friendly -- the
68-point model needed for blink/EAR has a non-commercial licence). A flat photo held up or
tilted barely changes that ratio. Replay check: consecutive frames that are pixel-identical
(a still image fed as video; a real sensor always adds noise) fail at once.

This is an RGB-only heuristic: it stops a printed or displayed still photo, not a video replay
of the worker turning. NIR/3D hardware is the real answer (docs, faces reference §4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Observation:
    signature: np.ndarray          # small grey thumbnail (e.g. 64×48 float32) of the whole frame
    yaw: float | None              # None when no single face was found in the frame


@dataclass(frozen=True)
class LivenessPolicy:
    min_frames: int = 3
    min_turn: float = 0.12         # yaw change from the first face frame (units of eye distance)
    identical_mad: float = 0.25    # mean |Δ| grey levels below which two frames are "the same frame"
    max_identical: int = 1         # tolerated identical consecutive pairs (a camera may duplicate one)
    challenge: str = "either"      # "left" | "right" | "either"


@dataclass(frozen=True)
class Liveness:
    passed: bool
    reason: str                    # ok | replayed_frames | no_head_turn | wrong_direction | too_few_frames
    turn_milli: int                # largest yaw change seen, ×1000, signed
    frames: int

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, "turn_milli": self.turn_milli,
                "frames": self.frames}


def signature(frame_gray: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.resize(frame_gray, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)


def assess(obs: list[Observation], policy: LivenessPolicy = LivenessPolicy()) -> Liveness:
    n = len(obs)
    identical = sum(1 for a, b in zip(obs, obs[1:])
                    if float(np.mean(np.abs(a.signature - b.signature))) < policy.identical_mad)
    if identical > policy.max_identical:
        return Liveness(False, "replayed_frames", 0, n)
    yaws = [o.yaw for o in obs if o.yaw is not None]
    if len(yaws) < policy.min_frames:
        return Liveness(False, "too_few_frames", 0, n)
    deltas = [y - yaws[0] for y in yaws[1:]]
    turn = max(deltas, key=abs)
    # image-left turn raises the yaw proxy (nose moves toward the image right)
    if abs(turn) < policy.min_turn:
        return Liveness(False, "no_head_turn", round(turn * 1000), n)
    direction = "right" if turn > 0 else "left"
    if policy.challenge != "either" and direction != policy.challenge:
        return Liveness(False, "wrong_direction", round(turn * 1000), n)
    return Liveness(True, "ok", round(turn * 1000), n)
