"""The one catalogue of words for clock-in decisions, Chinese and English: what a refused
worker is told (phone page, and any display a lane has), the short label a labour manager sees
(roster flags, refusals on a worker's calendar), and the phone page's other answers.

Codes are the ``reason`` values of attendance records (docs/wire.md §3) and the flags of
:func:`gateway.clockin.rules.flags`; a code missing here falls back to a generic text, so a
new reason is never shown as a blank.
"""
from __future__ import annotations

# code: (label zh, label en, message zh, message en)
_ROSTER: dict[str, tuple[str, str, str, str]] = {
    "unknown_worker": ("不在花名册", "not on the roster",
                       "您不在本工地花名册上，未打卡：请到劳务管理员处登记。",
                       "You are not on this site's roster. Not clocked in: register with the labour manager."),
    "blacklisted": ("黑名单", "blacklisted",
                    "您已被列入黑名单，未打卡。如有疑问请联系劳务管理员。",
                    "You are on the blacklist. Not clocked in: ask the labour manager."),
    "exited": ("已退场", "exited",
               "您已办理退场，未打卡：重新进场请先到劳务管理员处登记。",
               "You have exited this site. Not clocked in: re-register with the labour manager."),
    "suspended": ("暂停", "suspended",
                  "您的通行已被暂停，未打卡。请联系劳务管理员。",
                  "Your access is suspended. Not clocked in: ask the labour manager."),
    "inactive": ("未在岗", "inactive",
                 "您在花名册上不是在岗状态，未打卡。请联系劳务管理员。",
                 "You are not active on the roster. Not clocked in: ask the labour manager."),
    "contract_expired": ("合同已到期", "contract expired",
                         "您的劳动合同已到期，未打卡：请续签后再来。",
                         "Your labour contract has ended. Not clocked in: renew it first."),
    "certificate_missing": ("缺特种作业证", "certificate missing",
                            "特种作业须持证上岗：未登记您的特种作业操作证，未打卡。",
                            "Special operations need a certificate: none is on record for you. Not clocked in."),
    "certificate_expired": ("证书已过期", "certificate expired",
                            "您的特种作业操作证已过期，未打卡：请复审或换证后再来。",
                            "Your special-operation certificate has expired. Not clocked in."),
    "under_age": ("未达最低年龄", "under age",
                  "您未达到本工地的最低用工年龄，未打卡。",
                  "You are under this site's minimum working age. Not clocked in."),
    "over_age": ("超龄", "over age",
                 "您已超过本工地的用工年龄上限，未打卡。",
                 "You are over this site's age limit. Not clocked in."),
    "anti_passback": ("重复进出", "anti-passback",
                      "您已在场内（或尚未进场），不能重复通行。",
                      "You are already inside (or never came in): passage refused."),
}

# a photo refused (enrolment in the CLI and web app, a phone selfie, a lane frame): what to fix
_PHOTO: dict[str, tuple[str, str, str, str]] = {
    "bad_pose": ("人脸不正", "not frontal",
                 "照片中的人脸不是正面：请正对镜头，不要侧脸、低头或仰头。",
                 "The face is not frontal: look straight at the camera, head level."),
    "blurry": ("图像模糊", "blurry",
               "照片模糊：请拿稳手机或相机，对好焦后重拍。",
               "The photo is blurred: hold the camera still and focus, then take it again."),
    "too_dark": ("光线太暗", "too dark",
                 "照片太暗：请到光线充足处，避免背光，再拍一次。",
                 "The photo is too dark: move to good light, not against the light, and retake it."),
    "multiple_faces": ("多张人脸", "several faces",
                       "照片中有两张或更多人脸：只拍本人一人。",
                       "There are two or more faces in the photo: only the worker should be in it."),
    "face_too_small": ("人脸过小", "face too small",
                       "人脸太小：请靠近镜头，让脸占照片的大部分。",
                       "The face is too small: come closer so the face fills most of the photo."),
    "no_face": ("无人脸", "no face",
                "照片中没有找到人脸：请正对镜头，露出整张脸（摘下口罩、帽檐抬高）。",
                "No face found in the photo: face the camera with the whole face visible."),
    "bad_image": ("图像无效", "bad image",
                  "无法读取这张照片（文件损坏或格式不支持）：请换一张 JPEG 或 PNG 照片。",
                  "The photo cannot be read (damaged or unsupported): use a JPEG or PNG photo."),
    "inconsistent": ("照片不是同一人", "not the same person",
                     "这几张照片看起来不是同一个人：请只上传本人的照片。",
                     "The photos do not look like the same person: upload photos of this worker only."),
}
PHOTO_REASONS = tuple(_PHOTO)

# labels only: what the labour manager sees for flags and lane refusals
_LABELS: dict[str, tuple[str, str]] = {
    "contract_ending": ("合同即将到期", "contract ending"),
    "certificate_ending": ("证书即将到期", "certificate ending"),
    "near_age_limit": ("即将超龄", "near age limit"),
    "face_mismatch": ("人脸不符", "face mismatch"),
    "not_enrolled": ("未采集人脸", "face not enrolled"),
    "face_not_identified": ("未识别人脸", "face not identified"),
    "no_face": ("无人脸", "no face"),
    "multiple_faces": ("多张人脸", "several faces"),
    "face_too_small": ("人脸过小", "face too small"),
    "blurry": ("图像模糊", "blurry"),
    "bad_image": ("图像无效", "bad image"),
    "no_frames": ("无图像", "no frames"),
    "no_camera": ("无摄像头", "no camera"),
    "no_passage": ("未通过闸机", "did not pass"),
    "internal_error": ("内部错误", "internal error"),
}

# the phone page's other answers (sentences with {placeholders})
_ANSWERS: dict[str, tuple[str, str]] = {
    "ok": ("打卡成功（记录 {seq}），在围栏内，距边界 {dist:.0f} 米。",
           "Clocked in (record {seq}), {dist:.0f} m inside the fence."),
    "ok_review": ("打卡成功（记录 {seq}），已标记待复核：{flags}。",
                  "Clocked in (record {seq}); flagged for review: {flags}."),
    "outside": ("不在电子围栏内：距围栏 {away:.0f} 米，未打卡。",
                "Not inside the fence: {away:.0f} m outside. Not clocked in."),
    "outside_window": ("现在不在该围栏的打卡时段内，未打卡。",
                       "Outside the fence's clock-in hours. Not clocked in."),
    "far_from_fences": ("位置离所有围栏数百公里，未打卡：请检查定位。",
                        "Hundreds of km from every fence. Not clocked in: check location."),
    "retry": ("定位精度不够（±{acc:.0f} 米），无法确认是否在围栏内：请到开阔处稍等后重试。",
              "Location not accurate enough (±{acc:.0f} m) to tell: wait in the open and retry."),
    "face_retry": ("照片中没有找到一张清晰的人脸：请正对镜头重新打卡。",
                   "No single clear face in the photo: face the camera and try again."),
    "face_mismatch": ("人脸与登记照片不符，未打卡。如有疑问请联系劳务管理员。",
                      "The face does not match the enrolled photo. Not clocked in."),
    "bad_location": ("位置数据无效：{detail}", "Invalid location: {detail}"),
    "full": ("存储已满，无法记录：请告知工地办公室。",
             "Storage full, cannot record: tell the site office."),
    "sign_in_first": ("请先登录。", "Please sign in first."),
    "wrong_credentials": ("身份证号或密码错误。", "Wrong ID number or PIN."),
    "locked": ("密码错误次数过多：请 {minutes} 分钟后再试，或请劳务管理员出示二维码。",
               "Too many wrong PINs: try again in {minutes} minutes or ask the labour manager "
               "for a QR code."),
    "token_invalid": ("二维码已失效：请向劳务管理员索取新的二维码。",
                      "This QR code is not valid any more: ask for a new one."),
}

ROSTER_REASONS = tuple(_ROSTER)


def _prefixed(code: str) -> tuple[str, str] | None:
    for prefix, zh, en in (("card_", "读卡失败", "card refused"),
                           ("liveness_", "活体检测未通过", "liveness failed"),
                           ("gate_", "闸机故障", "gate fault")):
        if code.startswith(prefix):
            return f"{zh}（{code[len(prefix):]}）", f"{en} ({code[len(prefix):]})"
    return None


def label(code: str, lang: str = "zh") -> str:
    """Short words for a reason or flag code (screens for the labour manager)."""
    if code in _ROSTER:
        zh, en = _ROSTER[code][:2]
    elif code in _PHOTO:
        zh, en = _PHOTO[code][:2]
    elif code in _LABELS:
        zh, en = _LABELS[code]
    else:
        zh, en = _prefixed(code) or (f"拒绝（{code}）", f"refused ({code})")
    return en if lang == "en" else zh


def message(code: str, lang: str = "zh", **kw) -> str:
    """The sentence for the person clocking in or enrolling: a roster refusal, a refused photo
    (what to fix) or a phone answer."""
    if code in _ROSTER:
        zh, en = _ROSTER[code][2:]
    elif code in _PHOTO:
        zh, en = _PHOTO[code][2:]
    elif code in _ANSWERS:
        zh, en = _ANSWERS[code]
    else:
        lzh, len_ = label(code, "zh"), label(code, "en")
        zh, en = f"未打卡：{lzh}。", f"Not clocked in: {len_}."
    text = en if lang == "en" else zh
    return text.format(**kw) if kw else text


def messages(code: str, **kw) -> dict[str, str]:
    """``{"message_zh": …, "message_en": …}`` for a JSON answer."""
    return {"message_zh": message(code, "zh", **kw), "message_en": message(code, "en", **kw)}
