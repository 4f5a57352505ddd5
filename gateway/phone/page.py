"""The phone clock-in page (one HTML document, Chinese first, English available)."""
from __future__ import annotations

import html
import json

STRINGS = {
    "zh": {
        "title": "工地手机打卡", "other": "English", "other_lang": "en",
        "id": "身份证号", "pin": "密码 (PIN)", "signin": "登录",
        "qr_hint": "也可以扫描劳务管理员给的一次性二维码登录。",
        "signed_in": "已登录：", "in": "上班", "out": "下班", "clockin": "打卡",
        "locating": "正在定位并拍照…", "camera_off": "无法打开摄像头：请允许使用相机。",
        "geo_off": "无法获取位置：请打开定位并允许本页面使用位置。",
        "privacy": "照片只用于本次人脸核验，不会保存；身份证号和密码不会以明文保存。",
    },
    "en": {
        "title": "Site clock-in", "other": "中文", "other_lang": "zh",
        "id": "ID number", "pin": "PIN", "signin": "Sign in",
        "qr_hint": "Or scan the one-time QR code from the labour manager.",
        "signed_in": "Signed in: ", "in": "Start of shift", "out": "End of shift",
        "clockin": "Clock in", "locating": "Getting your location and a selfie…",
        "camera_off": "Cannot open the camera: please allow camera access.",
        "geo_off": "Cannot get your location: turn on location and allow it for this page.",
        "privacy": "The photo is used only for this face check and is not kept; ID numbers "
                   "and PINs are never stored in clear.",
    },
}

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:0;padding:1rem;max-width:32rem}}
h1{{font-size:1.3rem}} label{{display:block;margin:.6rem 0 .2rem}}
input,select,button{{font-size:1.1rem;padding:.5rem;width:100%;box-sizing:border-box}}
button{{margin-top:.8rem;background:#1565c0;color:#fff;border:0;border-radius:.4rem}}
#status{{margin-top:1rem;padding:.7rem;border-radius:.4rem;background:#eee}}
#status[data-status=ok]{{background:#c8e6c9}} #status[data-status=outside]{{background:#ffcdd2}}
#status[data-status=retry],#status[data-status=face_retry]{{background:#ffe0b2}}
#status[data-status=face_mismatch],#status[data-status=error]{{background:#ffcdd2}}
video,img{{width:100%;margin-top:.6rem;border-radius:.4rem}} small{{color:#555}}
.hidden{{display:none}}
</style></head><body>
<p style="text-align:right"><a id="lang" href="/?lang={other_lang}">{other}</a></p>
<h1>{title}</h1>
<section id="signin">
 <label for="idn">{id}</label><input id="idn" autocomplete="off" inputmode="text" maxlength="18">
 <label for="pin">{pin}</label><input id="pin" type="password" inputmode="numeric" maxlength="8">
 <button id="signin-btn">{signin}</button>
 <p><small>{qr_hint}</small></p>
</section>
<section id="clock" class="hidden">
 <p>{signed_in}<span id="who"></span></p>
 <video id="cam" autoplay playsinline muted></video>
 <select id="dir"><option value="in">{in}</option><option value="out">{out}</option></select>
 <button id="clock-btn">{clockin}</button>
</section>
<div id="status" data-status="idle" role="status"></div>
<img id="map" class="hidden" alt="map">
<p><small>{privacy}</small></p>
<script nonce="{nonce}">
const LANG = {lang_json}, T = {strings_json};
const $ = id => document.getElementById(id);
function show(status, text) {{ const s = $("status"); s.dataset.status = status; s.textContent = text; }}
async function post(url, body) {{
  const r = await fetch(url, {{method: "POST", headers: {{"Content-Type": "application/json"}},
                              body: JSON.stringify(body), credentials: "same-origin"}});
  let j = {{}}; try {{ j = await r.json(); }} catch (e) {{}}
  j.http = r.status; return j;
}}
async function signedIn(j) {{
  if (j.http !== 200) {{ show("error", j["message_" + LANG] || j.message || ("HTTP " + j.http)); return; }}
  $("who").textContent = j.worker + " (" + j.masked + ")";
  $("signin").classList.add("hidden"); $("clock").classList.remove("hidden");
  show("ready", "");
  try {{
    const stream = await navigator.mediaDevices.getUserMedia({{video: {{facingMode: "user", width: 640, height: 480}}, audio: false}});
    $("cam").srcObject = stream;
  }} catch (e) {{ show("error", T.camera_off); }}
}}
$("signin-btn").onclick = async () => signedIn(await post("/api/login", {{id_number: $("idn").value, pin: $("pin").value}}));
function selfie(nonce) {{
  const v = $("cam"), c = document.createElement("canvas");
  c.width = v.videoWidth || 640; c.height = v.videoHeight || 480;
  c.getContext("2d").drawImage(v, 0, 0, c.width, c.height);
  // bind the photo to this attempt: a JPEG comment segment right after SOI carries the nonce
  const jpg = atob(c.toDataURL("image/jpeg", 0.92).split(",")[1]);
  const tag = "sitegate-attempt:" + nonce, n = tag.length + 2;
  return "data:image/jpeg;base64," +
    btoa(jpg.slice(0, 2) + "\\xff\\xfe" + String.fromCharCode(n >> 8, n & 255) + tag + jpg.slice(2));
}}
function failed(j) {{ show(j.status || "error", j["message_" + LANG] || j.message || ("HTTP " + j.http)); }}
$("clock-btn").onclick = async () => {{
  show("working", T.locating);
  // one attempt = one server nonce, asked for before the location and the selfie are taken
  const a = await post("/api/attempt", {{}});
  if (a.http !== 200) {{ failed(a); return; }}
  navigator.geolocation.getCurrentPosition(async pos => {{
    const c = pos.coords;
    const j = await post("/api/clockin", {{nonce: a.nonce, lon: c.longitude, lat: c.latitude,
      accuracy: c.accuracy, time_ms: Math.round(pos.timestamp), crs: "wgs84", dir: $("dir").value,
      selfie: selfie(a.nonce)}});
    show(j.status || "error", j["message_" + LANG] || j.message || ("HTTP " + j.http));
    if (j.map) {{ const m = $("map"); m.src = j.map; m.classList.remove("hidden"); }}
  }}, err => show("error", T.geo_off + " (" + err.message + ")"),
  {{enableHighAccuracy: true, timeout: 20000, maximumAge: 0}});
}};
const token = new URLSearchParams(location.search).get("t");
if (token) {{ history.replaceState(null, "", "/"); post("/api/login-token", {{token}}).then(signedIn); }}
</script></body></html>"""


def render(lang: str, nonce: str) -> bytes:
    lang = lang if lang in STRINGS else "zh"
    s = {k: html.escape(v) for k, v in STRINGS[lang].items()}
    return PAGE.format(lang=lang, nonce=nonce, lang_json=json.dumps(lang),
                       strings_json=json.dumps(STRINGS[lang], ensure_ascii=False),
                       **s).encode("utf-8")
