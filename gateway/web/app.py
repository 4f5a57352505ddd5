"""The labour manager's web app, served by the gateway (FastAPI + Jinja2, no JavaScript needed).

Pages: today (on site now, entries/exits by team and by hour), roster (search, status, face,
contract/certificate expiry, age flags), a worker's month as a calendar (with face enrolment),
the unknown-card queue (register or reject), devices and alarms, and the monthly sheet
(XLSX/CSV download). Chinese by default, English with ``?lang=en``.

Security: server-side sessions (:mod:`gateway.web_accounts`) in an HttpOnly, SameSite=Strict
cookie (Secure over TLS); every form carries the session's CSRF token; every page says
``Cache-Control: no-store`` and a strict Content-Security-Policy; ID numbers are masked on
every page. Each response carries ``Server-Timing: app;dur=…`` (what the benchmark measures).
"""
from __future__ import annotations

import asyncio
import html
import logging
import math
import secrets
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, unquote, urlencode

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from gateway.codes import SPECIAL_OPERATIONS, WORK_TYPES, operation_of, special_operation_name, work_type_name
from gateway.ledger import sheet as S
from gateway.ledger.ledger import LedgerError, month_calendar, parse_month, today_summary
from gateway.https import HTTPSServer, Limits, ServerStartError
from gateway.roster.store import RosterError
from gateway.ledger.site_data import SiteData
from gateway.web.accounts import HASH_SLOTS, LOCK_S, MAX_FAILURES, Accounts, AccountError, Session, SignInFailed, Throttle
from gateway.web.i18n import pick, t

log = logging.getLogger("sitegate.web")

COOKIE, LANG_COOKIE, FLASH_COOKIE = "sg_session", "sg_lang", "sg_flash"
PAGE_SIZE = 50
READ = ("manager", "viewer")                 # personal data
ANY = ("manager", "viewer", "installer")
WRITE = ("manager",)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


SIGNIN_QUEUE = 8          # sign-ins waiting for a hash slot; more are answered 503 at once


class HashGate:
    """Sign-ins hashing (at most ``slots``) or waiting for a slot (at most ``queue``) on the
    event loop: a waiting request holds no thread and no memory, and the rest are told to come
    back at once instead of piling up."""

    def __init__(self, slots: int = HASH_SLOTS, queue: int = SIGNIN_QUEUE) -> None:
        self.limit, self.inside = slots + queue, 0
        self._sem = asyncio.Semaphore(slots)

    def admit(self) -> bool:
        if self.inside >= self.limit:
            return False
        self.inside += 1
        return True

    async def run(self, fn, *args):
        """Run ``fn`` in the thread pool once a slot is free (after :meth:`admit`)."""
        try:
            async with self._sem:
                return await run_in_threadpool(fn, *args)
        finally:
            self.inside -= 1


class Refused(Exception):
    def __init__(self, status: int, key: str, **kw: Any) -> None:
        self.status, self.key, self.kw = status, key, kw


def hour_chart_svg(hours: list[dict], lang: str) -> str:
    """Pure: a bar chart (entries up, exits down) of 24 hourly counts, as inline SVG."""
    w, h, pad = 720, 220, 24
    top = max([max(x["in"], x["out"]) for x in hours] + [1])
    mid, half, bw = h / 2, h / 2 - pad, (w - 2 * pad) / 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="{html.escape(t(lang, "by_hour"))}" class="chart">',
             f'<line x1="{pad}" y1="{mid}" x2="{w - pad}" y2="{mid}" stroke="#888"/>']
    for i, x in enumerate(hours):
        cx = pad + i * bw
        hi, ho = half * x["in"] / top, half * x["out"] / top
        if x["in"]:
            parts.append(f'<rect class="bar-in" x="{cx + 2:.1f}" y="{mid - hi:.1f}" width="{bw - 4:.1f}" '
                         f'height="{hi:.1f}" fill="#2e7d32"><title>{i:02d}:00 {t(lang, "entries")} {x["in"]}'
                         f'</title></rect>')
        if x["out"]:
            parts.append(f'<rect class="bar-out" x="{cx + 2:.1f}" y="{mid:.1f}" width="{bw - 4:.1f}" '
                         f'height="{ho:.1f}" fill="#c62828"><title>{i:02d}:00 {t(lang, "exits")} {x["out"]}'
                         f'</title></rect>')
        if i % 3 == 0:
            parts.append(f'<text x="{cx + bw / 2:.1f}" y="{h - 4}" font-size="11" text-anchor="middle">{i:02d}</text>')
    parts.append(f'<text x="{pad}" y="14" font-size="11" fill="#2e7d32">▲ {t(lang, "entries")}</text>'
                 f'<text x="{pad + 90}" y="14" font-size="11" fill="#c62828">▼ {t(lang, "exits")}</text></svg>')
    return "".join(parts)


def build_app(data: SiteData, accounts: Accounts, *, secure_cookie: bool = False,
              clock: Callable[[], float] = time.time, health_path: Path | None = None,
              lanes: list | None = None, registrations=None,
              throttle: Throttle | None = None, signin_link_user: str = "") -> FastAPI:
    """``registrations``: a :class:`gateway.roster.report.RegistrationReporter` over the
    daemon's outbox; without one (``sitegate web serve``) a registration waits in the roster
    for the daemon to send it. ``signin_link_user``: serve ``/signin/<token>`` (one-time links,
    :meth:`Accounts.issue_link`) for this one account, to clients on this machine only; "" (the
    default) serves no such route."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    throttle = throttle or Throttle()
    gate = HashGate()
    env = Environment(loader=PackageLoader("gateway.web", "templates"), autoescape=select_autoescape(["html"]))
    env.globals.update(work_types=WORK_TYPES, special_ops=SPECIAL_OPERATIONS, wt_name=work_type_name,
                       op_name=special_operation_name, op_of=operation_of)
    from drivers.camera import display_source
    env.filters["source"] = display_source          # a camera URL's password never reaches a page
    env.filters["age"] = _age_text
    cfg = data.cfg
    health_path = health_path or cfg.home / "run" / "health.json"
    lanes = cfg.lanes if lanes is None else lanes
    tz = timezone(timedelta(minutes=cfg.tz_offset_min))

    def today() -> date:
        return datetime.fromtimestamp(clock(), tz).date()

    # ------------------------------------------------------------------ plumbing
    @app.middleware("http")
    async def timing_and_headers(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.2f}"
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def lang_of(request: Request) -> str:
        return pick(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))

    def render(request: Request, template: str, session: Session | None, code: int = 200,
               **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        here = request.url.path + ("?" + str(request.url.query) if request.url.query else "")
        body = env.get_template(template).render(
            t=lambda k, **kw: t(lang, k, **kw), lang=lang, session=session, here=here,
            other_lang="en" if lang == "zh" else "zh", path=request.url.path, project=cfg.project or "",
            gateway=cfg.gateway_id, flash=unquote(request.cookies.get(FLASH_COOKIE, "")) or None, **ctx)
        resp = HTMLResponse(body, status_code=code)
        if FLASH_COOKIE in request.cookies:
            resp.delete_cookie(FLASH_COOKIE, path="/")
        if request.query_params.get("lang") in ("zh", "en"):
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True,
                            secure=secure_cookie)
        return resp

    def need(request: Request, roles: tuple[str, ...]) -> Session:
        session, why = accounts.session(request.cookies.get(COOKIE))
        if session is None:
            raise Refused(401, "expired" if why == "expired" else "need_signin")
        if session.role not in roles:
            raise Refused(403, "forbidden", role=t(lang_of(request), "ro_" + session.role))
        return session

    async def form_of(request: Request, session: Session) -> Any:
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
            raise Refused(403, "bad_form")
        return form

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        if exc.status == 401:
            target = "/login?" + urlencode({"next": request.url.path, "why": exc.key})
            return RedirectResponse(target, status_code=303)
        session, _ = accounts.session(request.cookies.get(COOKIE))
        return render(request, "message.html", session, code=exc.status,
                      message=t(lang_of(request), exc.key, **exc.kw))

    def back(path: str, msg: str | None = None) -> RedirectResponse:
        """Redirect after a POST; the message rides in a short-lived cookie only we can set (a
        message in the URL could be put there by anyone's link)."""
        resp = RedirectResponse(path, status_code=303)
        if msg:
            resp.set_cookie(FLASH_COOKIE, quote(msg[:300]), max_age=60, httponly=True, samesite="strict",
                            secure=secure_cookie, path="/")
        return resp

    # ------------------------------------------------------------------ sign in / out
    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request):
        why = request.query_params.get("why")
        return render(request, "login.html", None, notice=t(lang_of(request), why) if why in
                      ("expired", "need_signin", "signed_out") else None, error=None,
                      next=_safe_next(request.query_params.get("next")))

    @app.post("/login")
    async def login(request: Request):
        # The TCP peer, never a forwarded-for header: the app is served directly.
        addr = request.client.host if request.client else "?"
        lang = lang_of(request)
        wait = throttle.take(addr)
        if wait:
            log.warning("web sign-in throttled for %s", addr)
            return _signin_refused(request, 429, t(lang, "signin_throttled", after=math.ceil(wait)),
                                   math.ceil(wait))
        if not gate.admit():
            log.warning("web sign-in busy: %s told to retry", addr)
            return _signin_refused(request, 503, t(lang, "signin_busy"), 2)
        form = await request.form()
        name, password = str(form.get("user", "")), str(form.get("password", ""))
        nxt = _safe_next(str(form.get("next", "")))
        try:
            token = await gate.run(accounts.login, name, password)   # scrypt: off the loop, bounded
        except AccountError as exc:
            why = exc.why if isinstance(exc, SignInFailed) else str(exc)
            log.warning("web sign-in refused for %r from %s: %s", name[:32], addr, why)
            return render(request, "login.html", None, code=401, notice=None, error=t(lang, "bad_login", n=MAX_FAILURES, min=int(LOCK_S // 60)),
                          next=nxt, user=name)
        log.info("web sign-in: %s from %s", name, addr)
        resp = RedirectResponse(nxt or "/", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure_cookie,
                        max_age=int(accounts.max_s), path="/")
        return resp

    def _signin_refused(request: Request, code: int, error: str, retry_after: int) -> HTMLResponse:
        resp = render(request, "login.html", None, code=code, notice=None, error=error, next="")
        resp.headers["Retry-After"] = str(retry_after)
        return resp

    if signin_link_user:
        @app.get("/signin/{token}", response_class=HTMLResponse)
        async def link_page(request: Request, token: str):
            """A confirmation page; the link is spent only by the button (POST), so a browser's
            preview or prefetch of the address cannot use it up."""
            if not _loopback(request):
                raise Refused(404, "not_found")
            return render(request, "link.html", None, token=token, link_user=signin_link_user,
                          error=None)

        @app.post("/signin/{token}")
        async def link_signin(request: Request, token: str):
            addr = request.client.host if request.client else "?"
            if not _loopback(request):
                raise Refused(404, "not_found")
            wait = throttle.take(addr)
            if wait:
                return _signin_refused(request, 429, t(lang_of(request), "signin_throttled",
                                                       after=math.ceil(wait)), math.ceil(wait))
            try:
                session = accounts.redeem_link(token, signin_link_user)
            except AccountError as exc:
                log.warning("web one-time link refused from %s: %s", addr,
                            exc.why if isinstance(exc, SignInFailed) else exc)
                return render(request, "link.html", None, code=401, token="",
                              link_user=signin_link_user, error=True)
            log.info("web sign-in by one-time link: %s from %s", signin_link_user, addr)
            resp = RedirectResponse("/", status_code=303)
            resp.set_cookie(COOKIE, session, httponly=True, samesite="strict", secure=secure_cookie,
                            max_age=int(accounts.max_s), path="/")
            return resp

    @app.post("/logout")
    async def logout(request: Request):
        session = need(request, ANY)
        await form_of(request, session)
        accounts.logout(request.cookies.get(COOKIE))
        resp = RedirectResponse("/login?why=signed_out", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    # ------------------------------------------------------------------ today
    @app.get("/", response_class=HTMLResponse)
    async def today_page(request: Request):
        session = need(request, ANY)
        day = today().isoformat()
        passages = data.ledger.day_passages(day)
        summary = today_summary(passages, data.ledger.on_site(day), data.team_of())
        lang = lang_of(request)
        return render(request, "today.html", session, day=day, s=summary,
                      denials=data.ledger.day_denials(day), chart=hour_chart_svg(summary["hours"], lang))

    # ------------------------------------------------------------------ roster
    @app.get("/roster", response_class=HTMLResponse)
    async def roster_page(request: Request, q: str = "", status: str = "", flag: str = "", page: int = 1):
        session = need(request, READ)
        day = today()
        rows = []
        needle = q.strip().lower()
        by_id_number = None
        if _looks_like_id(needle):
            w = data.roster.by_id_number(needle)
            by_id_number = w.worker_id if w else ""
        for e in data.people():
            if status and e.worker.status != status:
                continue
            if by_id_number is not None:
                if e.worker_id != by_id_number:
                    continue
            elif needle and needle not in e.worker_id.lower() and needle not in e.name.lower() \
                    and needle not in (e.worker.team or "").lower():
                continue
            if flag:                     # flags for every worker only when filtering by them
                fl = data.flags(e, day)
                if not fl if flag == "any" else flag not in fl:
                    continue
            rows.append(e)
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        page = min(max(page, 1), pages)
        shown = [{"e": e, "flags": data.flags(e, day), "age": data.age(e, day)}
                 for e in rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
        shown_q = _mask(q.strip()) if by_id_number is not None else q
        query = {"q": shown_q, "status": status, "flag": flag}
        return render(request, "roster.html", session, rows=shown, total=len(rows), page=page, pages=pages,
                      q=shown_q, status=status, flag=flag, link=lambda p: "/roster?" + urlencode(query | {"page": p}),
                      all_flags=_FLAGS)

    @app.post("/roster")
    async def roster_search(request: Request):
        """The search form posts here, so an ID number typed into it never lands in a URL
        (browser history, proxy logs): it is looked up and replaced by the worker id."""
        session = need(request, READ)
        form = await form_of(request, session)
        q = str(form.get("q", "")).strip()
        query = {"status": str(form.get("status", "")), "flag": str(form.get("flag", ""))}
        if _looks_like_id(q):
            w = data.roster.by_id_number(q)
            if w is None:
                return back("/roster", t(lang_of(request), "no_id_match", masked=_mask(q.upper())))
            q = w.worker_id
        return back("/roster?" + urlencode({"q": q} | {k: v for k, v in query.items() if v}))

    # ------------------------------------------------------------------ a worker's month
    @app.get("/workers/{worker_id}", response_class=HTMLResponse)
    async def worker_page(request: Request, worker_id: str, month: str = ""):
        session = need(request, READ)
        e = data.entry(worker_id)
        if e is None:
            raise Refused(404, "not_found")
        d = today()
        try:
            year, mon = parse_month(month) if month else (d.year, d.month)
        except LedgerError:
            year, mon = d.year, d.month
        days = data.ledger.worker_month(worker_id, year, mon)
        denied = data.ledger.worker_denials(worker_id, year, mon)
        prev_m = (year - (mon == 1), 12 if mon == 1 else mon - 1)
        next_m = (year + (mon == 12), 1 if mon == 12 else mon + 1)
        return render(request, "worker.html", session, e=e, flags=data.flags(e, d), age=data.age(e, d),
                      year=year, mon=mon, weeks=month_calendar(year, mon), days=days, denied=denied,
                      today=d, prev=f"{prev_m[0]}-{prev_m[1]:02d}", next=f"{next_m[0]}-{next_m[1]:02d}",
                      templates=data.templates.count(worker_id),
                      registration=data.roster.registration_status(worker_id))

    @app.post("/workers/{worker_id}/edit")
    async def edit_worker(request: Request, worker_id: str):
        """Status, team, trade, contract end and certificate date; an exit can delete the face
        templates at once (PIPL: personal data not kept longer than needed)."""
        session = need(request, WRITE)
        form = await form_of(request, session)
        if data.entry(worker_id) is None:
            raise Refused(404, "not_found")
        fields = {k: str(form.get(k, "")).strip() for k in ("status", "team", "trade", "special_op",
                                                            "contract_end", "cert_valid_to")}
        lang = lang_of(request)
        try:
            data.roster.update(worker_id, **fields)
        except RosterError as exc:
            return back(f"/workers/{quote(worker_id)}", str(exc))
        msg = t(lang, "saved")
        if fields["status"] == "exited" and form.get("delete_face"):
            n = await run_in_threadpool(data.templates.remove, worker_id)
            msg += " " + t(lang, "face_deleted", n=n)
        log.info("web: %s edited worker %s (status %s)", session.user, worker_id, fields["status"])
        return back(f"/workers/{quote(worker_id)}", msg)

    @app.post("/workers/{worker_id}/face")
    async def enrol_face(request: Request, worker_id: str):
        session = need(request, WRITE)
        form = await form_of(request, session)
        if data.entry(worker_id) is None:
            raise Refused(404, "not_found")
        from biometrics.enrol import enrol_images
        from gateway.clockin.reasons import message
        from gateway.site import SiteError, face_engine
        files = [f for f in form.getlist("photos") if hasattr(f, "read")][:5]
        images = [(f.filename or f"photo{i}", await f.read()) for i, f in enumerate(files, 1)]
        lang = lang_of(request)
        try:
            engine = face_engine(cfg)
        except SiteError as exc:
            return back(f"/workers/{quote(worker_id)}", t(lang, "enrol_failed", why=str(exc)))
        res = (await run_in_threadpool(enrol_images, [(n, b) for n, b in images if b], engine=engine)
               if images else None)
        if res is None or not res.ok:
            why = "; ".join(f"{label}: {message(reason, lang)}" if label != "*" else message(reason, lang)
                            for label, reason, _ in (res.rejected if res else [])) or t(lang, "no_photo")
            return back(f"/workers/{quote(worker_id)}", t(lang, "enrol_failed", why=why))
        n = data.templates.add(worker_id, res.accepted, model=res.model)
        log.info("web: %s enrolled the face of %s (%d template(s))", session.user, worker_id, n)
        return back(f"/workers/{quote(worker_id)}", t(lang, "enrolled_ok", n=n))

    # ------------------------------------------------------------------ unknown cards
    @app.get("/unknown", response_class=HTMLResponse)
    async def unknown_page(request: Request, show: str = "pending"):
        session = need(request, READ)
        show = show if show in ("pending", "registered", "rejected") else "pending"
        cards = data.roster.unknown_cards(show)
        for c in cards:
            c["masked"] = _mask(c["card"].get("id_number", ""))
            c["first"], c["last"] = data.ledger.when(c["first_ms"]), data.ledger.when(c["last_ms"])
        return render(request, "unknown.html", session, cards=cards, show=show,
                      suggest=_suggest_id([e.worker_id for e in data.people()]))

    @app.post("/unknown/{key}/register")
    async def register_unknown(request: Request, key: str):
        session = need(request, WRITE)
        form = await form_of(request, session)
        wid = str(form.get("worker_id", "")).strip()
        fields = {k: (str(form.get(k, "")).strip() or None) for k in ("team", "trade", "special_op",
                                                                         "contract_end", "cert_valid_to")}
        try:
            data.roster.register_unknown(key, wid, session.user, **fields)
        except RosterError as exc:
            return back("/unknown", str(exc))
        log.info("web: %s registered an unknown card as %s", session.user, wid)
        lang = lang_of(request)
        msg = t(lang, "registered_ok", w=wid)
        sent = None
        if registrations is not None:                # SM2 work: off the event loop
            sent = dict(await run_in_threadpool(registrations.report)).get(wid)
        msg += " " + (t(lang, "reg_sent", seq=sent) if sent else t(lang, "reg_queued"))
        return back(f"/workers/{quote(wid)}", msg)

    @app.post("/unknown/{key}/reject")
    async def reject_unknown(request: Request, key: str):
        session = need(request, WRITE)
        form = await form_of(request, session)
        try:
            data.roster.reject_unknown(key, session.user, str(form.get("note", "")).strip() or None)
        except RosterError as exc:
            return back("/unknown", str(exc))
        log.info("web: %s rejected an unknown card", session.user)
        return back("/unknown", t(lang_of(request), "rejected_ok"))

    # ------------------------------------------------------------------ devices and alarms
    @app.get("/devices", response_class=HTMLResponse)
    async def devices_page(request: Request):
        session = need(request, ANY)
        health, age = _read_health(health_path, clock())
        stale = age is None or age > 30
        # lane devices as the daemon's supervisors saw them (only while the daemon is alive)
        devices = [] if stale else [dict(d, since_text=datetime.fromtimestamp(d["since"], tz).strftime(
            "%H:%M:%S") if d.get("since") else "") for d in health.get("devices") or []]
        oos = {} if stale else {ln["name"]: ln.get("out_of_service") or [] for ln in health.get("lanes", [])}
        central = data.roster.central_state()
        synced = central["synced_ms"]
        roster_age = None if synced is None else _age_text(max(0.0, clock() - synced / 1000))
        return render(request, "devices.html", session, health=health, age=age, lanes=lanes,
                      gaps=data.ledger.gaps(), stale=stale, devices=devices, oos=oos,
                      roster=central, roster_age=roster_age)

    # ------------------------------------------------------------------ face calibration
    @app.get("/faces", response_class=HTMLResponse)
    async def faces_page(request: Request):
        """What `sitegate faces calibrate` measured on this site's enrolments: the picture of
        genuine and impostor distances with the thresholds and their expected FAR/FRR, for the
        installer. Counts only: no worker is named."""
        import base64
        import json as _json

        from gateway.site import calibration_files, thresholds
        session = need(request, ANY)
        png, js = calibration_files(cfg)
        cal = img = None
        if png.is_file() and js.is_file():
            try:
                cal = _json.loads(js.read_text())
                img = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            except (OSError, ValueError):
                cal = img = None
        return render(request, "faces.html", session, cal=cal, img=img, model=cfg.faces.model,
                      current=thresholds(cfg).as_dict(), summary=data.templates.summary())

    # ------------------------------------------------------------------ the monthly sheet
    @app.get("/sheet", response_class=HTMLResponse)
    async def sheet_page(request: Request, month: str = ""):
        session = need(request, READ)
        d = today()
        try:
            year, mon = parse_month(month) if month else (d.year, d.month)
        except LedgerError:
            year, mon = d.year, d.month
        sheet = data.sheet(year, mon)
        return render(request, "sheet.html", session, sheet=sheet, month=f"{year}-{mon:02d}",
                      weekdays=sheet.weekday_row()[len(S.HEAD_ZH):-1])

    @app.get("/sheet/{name}")
    async def sheet_download(request: Request, name: str):
        need(request, READ)
        stem, _, ext = name.rpartition(".")
        try:
            year, mon = parse_month(stem)
        except LedgerError:
            raise Refused(404, "not_found") from None
        if ext not in ("xlsx", "csv"):
            raise Refused(404, "not_found")
        def build() -> tuple[S.Sheet, bytes]:          # seconds for a big site: off the event loop
            sheet = data.sheet(year, mon)
            return sheet, S.xlsx_bytes(sheet) if ext == "xlsx" else S.csv_bytes(sheet)
        sheet, body = await run_in_threadpool(build)
        media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if ext == "xlsx"
                 else "text/csv; charset=utf-8")
        fname = S.filename(sheet, ext, cfg.project or cfg.gateway_id)
        return Response(body, media_type=media,
                        headers={"Content-Disposition": _disposition(fname)})

    return app


_FLAGS = ("blacklisted", "contract_expired", "contract_ending", "certificate_missing", "certificate_expired",
          "certificate_ending", "under_age", "over_age", "near_age_limit")


def _mask(number: str) -> str:
    from drivers.sam.idnumber import mask
    return mask(number) if number else ""


def _disposition(fname: str) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name (a Chinese project name survives)."""
    ascii_name = fname.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(fname)}"


def _looks_like_id(text: str) -> bool:
    return len(text) == 18 and text[:17].isdigit()


def _loopback(request: Request) -> bool:
    """The TCP peer is this machine (one-time links are for the person at the gateway)."""
    import ipaddress
    try:
        return ipaddress.ip_address(request.client.host).is_loopback if request.client else False
    except ValueError:
        return False


def _safe_next(target: str | None) -> str:
    """Only our own paths (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _suggest_id(existing: list[str]) -> str:
    nums = [int(w[1:]) for w in existing if w[:1] == "W" and w[1:].isdigit()]
    return f"W{(max(nums) + 1) if nums else 1:06d}"


def _age_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _read_health(path: Path, now: float) -> tuple[dict | None, float | None]:
    import json
    try:
        health = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, None
    return health, max(0.0, now - float(health.get("ts", 0)))


class WebStartError(ServerStartError):
    """The web app could not listen (busy port, unreadable certificate)."""


# pages can take a while (month sheets, imports); the app reads its own bodies (forms, files)
WEB_LIMITS = Limits(max_connections=128, idle_s=20.0, busy_s=300.0, max_body=None)


class WebServer(HTTPSServer):
    """The web app on (host, port), TLS when cert and key are given (:mod:`gateway.https`:
    bounded connections, request deadlines)."""
    label = "web app"
    error = WebStartError
    port_hint = "choose another [web] port (or --port), or stop what uses it"

    def __init__(self, app: FastAPI, host: str, port: int, cert: Path | None = None,
                 key: Path | None = None) -> None:
        super().__init__(app, host, port, cert, key, WEB_LIMITS)
