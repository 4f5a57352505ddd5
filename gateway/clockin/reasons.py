"""Clock-in decisions in words, Chinese and English: what a refused worker is told (phone page,
and any display a lane has), the short label a labour manager sees (roster flags, refusals on a
worker's calendar), and the phone page's other answers.

The words live in the product's one catalogue (:mod:`gateway.words`): ``reason.<code>`` (the
label), ``reason.<code>.message`` (the sentence for a roster refusal), ``answer.<key>`` (the
phone page's answers).  Codes are the ``reason`` values of attendance records (docs/wire.md §3)
and the flags of :func:`gateway.clockin.rules.flags`; a code missing from the catalogue falls
back to a generic text, so a new reason is never shown as a blank.
"""
from __future__ import annotations

from gateway import words

# the eligibility rule's refusals (gateway.clockin.rules.eligibility), each with a sentence
ROSTER_REASONS = ("unknown_worker", "blacklisted", "exited", "suspended", "inactive",
                  "contract_expired", "certificate_missing", "certificate_expired", "under_age",
                  "over_age", "anti_passback")
# a photo refused (enrolment in the CLI and web app, a phone selfie, a lane frame): each has a
# label and a sentence saying what to fix (``reason.<code>`` / ``reason.<code>.message``)
PHOTO_REASONS = ("bad_pose", "blurry", "too_dark", "multiple_faces", "face_too_small", "no_face",
                 "bad_image", "inconsistent")
_PREFIXES = ("card_", "liveness_", "gate_")


def label(code: str, lang: str = "zh") -> str:
    """Short words for a reason or flag code (screens for the labour manager)."""
    if words.has(f"reason.{code}"):
        return words.text(f"reason.{code}", lang)
    for prefix in _PREFIXES:
        if code.startswith(prefix):
            return words.text(f"reason_prefix.{prefix}", lang, detail=code[len(prefix):])
    return words.text("reason_other", lang, code=code)


def message(code: str, lang: str = "zh", **kw) -> str:
    """The sentence for the person clocking in: a roster refusal or a phone answer."""
    if words.has(f"reason.{code}.message"):
        return words.text(f"reason.{code}.message", lang, **kw)
    if words.has(f"answer.{code}"):
        return words.text(f"answer.{code}", lang, **kw)
    return words.text("reason_other.message", lang, label=label(code, lang))


def messages(code: str, **kw) -> dict[str, str]:
    """``{"message_zh": …, "message_en": …}`` for a JSON answer."""
    return {"message_zh": message(code, "zh", **kw), "message_en": message(code, "en", **kw)}
