"""`sitegate demo`: the whole product on one machine, ending by itself with a summary.

A simulated road-works site (made-up project and workers, :mod:`gateway.ops.demo_data`):

1. central's registry: companies, the project, its workers and contracts, the special account,
   imported with `sitegate-central import` into a fresh central database;
2. the gateway: a key registered with central (`gateways add --project`), central's public key,
   two card + turnstile lanes (entry, exit) on the ID-card and relay-board simulators' ptys,
   faces on when photos are given (`--faces DIR`), the phone page with a corridor fence drawn in
   GCJ-02, the labour manager's web app on 127.0.0.1;
3. the spine: an in-process MQTT broker (amqtt), a real `sitegate-central run` process and a real
   `sitegate run` daemon; the daemon learns its roster from central (signed, sealed), then the
   past month's attendance is simulated into its outbox (records say ``method: "sim"``), and
   today workers tap their cards at the lanes and clock in by phone on the road;
4. central's month: every record acknowledged and verified, the month's payroll imported (one
   worker left unpaid, one paid for more days than attended), the warnings evaluated;
5. the monthly 考勤表 written with `sitegate export attendance`, and a one-time sign-in link to
   the web app printed.

Everything lands in one folder under ``$SITEGATE_HOME/demo/``; every artefact's path is
printed.  The embedded broker has no accounts or access rules (Mosquitto's dynamic-security
plugin is what a real site uses; docs/security.md): fine for one machine, never for a site.
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import secrets
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from gateway.ops import demo_data as D
from gateway.ops.embedded_broker import EmbeddedBroker, free_port

GATEWAY = "gw-demo-0001"
MANAGER = "demo-manager"
PHONE_WORKERS = 3
PIN = "2468"
BROKER_NOTE = ("embedded broker (amqtt, in this process): no accounts, no access rules -- a real "
               "site uses Mosquitto with the dynamic-security plugin (docs/security.md)")


class DemoError(RuntimeError):
    pass


@dataclass
class Report:
    folder: str
    month: str
    faces: bool
    ok: bool = False
    steps: list[dict] = field(default_factory=list)
    lanes: list[dict] = field(default_factory=list)
    phone: list[dict] = field(default_factory=list)
    records: dict = field(default_factory=dict)
    central: dict = field(default_factory=dict)
    warnings: dict = field(default_factory=dict)
    artefacts: dict = field(default_factory=dict)
    databases: dict = field(default_factory=dict)
    web: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _wait(cond, timeout: float, what: str, proc: subprocess.Popen | None = None,
          log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log and log.exists() else ""
            raise DemoError(f"{what}: the process ended (exit {proc.returncode})\n{tail}")
        if time.monotonic() > deadline:
            raise DemoError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


class Site:
    """The running parts and where they keep their files."""

    def __init__(self, home: Path, faces: Path | None, console: Console, quiet: bool) -> None:
        self.console, self.quiet = console, quiet
        self.folder = home / "demo" / time.strftime("site-%Y%m%d-%H%M%S")
        self.gw_home, self.c_home = self.folder / "gateway", self.folder / "central"
        self.files, self.logs = self.folder / "files", self.folder / "logs"
        for d in (self.gw_home, self.c_home, self.files, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.faces_dir = faces
        self.today = dt.datetime.now(D.TZ).date()
        self.month = D.previous_month(self.today)
        self.report = Report(str(self.folder), self.month, faces is not None)
        self.procs: dict[str, subprocess.Popen] = {}
        self.sims: list = []
        self.cams: dict[str, object] = {}
        self.broker: EmbeddedBroker | None = None
        self.cfg = None
        self.wid: dict[str, str] = {}           # person key -> registry worker id
        self.stop = threading.Event()

    # ------------------------------------------------------------ helpers
    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def step(self, title: str):
        site = self

        class _Step:
            def __enter__(self):
                site.say(f"[bold cyan]▶[/] {title}")
                self.t = time.monotonic()
                return self

            def __exit__(self, *exc):
                site.report.steps.append({"step": title, "seconds": round(time.monotonic() - self.t, 1),
                                          "ok": exc[0] is None})
                return False
        return _Step()

    def env(self, home: Path) -> dict:
        env = dict(os.environ, SITEGATE_HOME=str(home))
        env.pop("SITEGATE_KEY_PASSPHRASE", None)
        return env

    def central(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "-m", "central.cli", *args], env=self.env(self.c_home),
                             capture_output=True, text=True, timeout=300)
        if check and out.returncode != 0:
            raise DemoError(f"sitegate-central {' '.join(args[:2])}: {out.stderr.strip()[-800:]}")
        return out

    def gateway(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=self.env(self.gw_home),
                             capture_output=True, text=True, timeout=300)
        if check and out.returncode != 0:
            raise DemoError(f"sitegate {' '.join(args[:2])}: {out.stderr.strip()[-800:]}")
        return out

    def start(self, name: str, cmd: list[str], home: Path) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, env=self.env(home), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def halt(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def close(self) -> None:
        for name in list(self.procs)[::-1]:
            self.halt(name)
        for cam in self.cams.values():
            cam.stop()
        for sim in self.sims:
            sim.stop()
        if self.broker is not None:
            self.broker.stop()

    # ------------------------------------------------------------ outbox, read-only
    def outbox_state(self) -> tuple[int, int]:
        path = self.cfg.outbox_path
        if not path.exists():
            return 0, 0
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        except sqlite3.OperationalError:
            return 0, 0
        finally:
            conn.close()
        return int(meta.get("head_seq", 0)), int(meta.get("acked_seq", 0))

    def records_after(self, seq: int) -> list[dict]:
        conn = sqlite3.connect(f"file:{self.cfg.outbox_path}?mode=ro", uri=True, timeout=5)
        try:
            return [json.loads(d) for (d,) in conn.execute(
                "SELECT data FROM records WHERE seq > ? ORDER BY seq", (seq,))]
        finally:
            conn.close()


def run_site_demo(home: Path, faces: Path | None, console: Console, quiet: bool = False,
                  workers: int = 8, stay_s: float = 0.0, on_summary=None) -> Report:
    """Run the whole demo; ``on_summary(report)`` is called once the summary is ready (before
    the web app's ``stay_s`` seconds)."""
    site = Site(Path(home), Path(faces) if faces else None, console, quiet)
    start = time.monotonic()
    try:
        try:
            _run(site, workers)
            site.report.ok = not site.report.problems
        except DemoError as exc:
            site.report.problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - the summary names it, the log keeps the trace
            import traceback
            (site.logs / "demo.log").write_text(traceback.format_exc())
            site.report.problems.append(f"{type(exc).__name__}: {exc} (trace in "
                                        f"{site.logs / 'demo.log'})")
        site.report.seconds = round(time.monotonic() - start, 1)
        _write_summary(site)
        if on_summary:
            on_summary(site.report)
        if stay_s > 0 and "url" in site.report.web and site.report.ok:
            _stay(site, stay_s)
    finally:
        site.close()
    return site.report


def _stay(site: Site, seconds: float) -> None:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    site.say(f"[green]the web app stays up for {seconds:.0f} s[/] (Ctrl-C ends the demo now)")
    stop.wait(seconds)


def _run(site: Site, n_workers: int) -> None:
    from gateway import keys
    r = site.report
    import importlib.util
    missing = [m for m in ("amqtt", "sqlalchemy", "alembic") if importlib.util.find_spec(m) is None]
    if missing:
        raise DemoError(f"sitegate demo needs {', '.join(missing)}: pip install 'sitegate[demo]'")
    staff = D.people(n_workers)
    if site.faces_dir is not None:
        sets = D.face_people(site.faces_dir, len(staff))
        if len(sets) < 2:
            raise DemoError(f"--faces {site.faces_dir}: need photos of at least two people (two or "
                            "more photos each: a manifest.csv or one folder per person)")
        _check_faces_stack(sets[0][0])
        with site.step("faces: a cast the face stack tells apart (a camera frame to enrol, another "
                       "for the lane and the selfie)"):
            cast = _cast(site, sets, len(staff))
        if len(cast) < 2:
            raise DemoError(f"--faces {site.faces_dir}: fewer than two people whose photos match "
                            "each other closely enough for a clear demo")
        staff = staff[:len(cast)]
        for p, photos in zip(staff, cast):
            p.photos = photos
        r.notes.append("faces: lanes decide card + face (liveness off: still photos cannot turn "
                       "their heads); phone selfies are matched against the same templates")
    ended = staff[-1]                            # contract ended yesterday: refused at the gate
    visitor = D.visitor()
    r.notes.append(BROKER_NOTE)
    site.console.print(f"[bold]sitegate demo[/]: a simulated road-works site in {site.folder}",
                       soft_wrap=True) if not site.quiet else None
    site.say(f"[dim]{BROKER_NOTE}[/]")

    with site.step("central: registry (companies, project, workers, contracts, special account)"):
        for kind, path in D.registry_files(site.files / "registry", staff, site.month, site.today,
                                           contract_ended=ended.key):
            site.central("import", kind, str(path), "--no-evaluate")
            r.artefacts[f"registry {kind}"] = str(path)
        r.artefacts["central database"] = str(site.c_home / "central" / "central.db")

    with site.step("gateway: key, central's key, lanes on the simulators, phone page, web app"):
        cfg = _make_gateway(site, staff)
        site.cfg = cfg
        cfg.central_key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        site.central("key", "-o", str(cfg.central_key_file))
        signer = keys.generate(cfg.key_file)
        del signer
        site.central("gateways", "add", GATEWAY, "--public-key", str(keys.public_file(cfg.key_file)),
                     "--project", D.PROJECT, "--label", "sitegate demo")

    with site.step("the spine: broker, `sitegate-central run`, `sitegate run`; roster from central"):
        site.broker = EmbeddedBroker(port=site.broker_port).start()
        ready = site.logs / "central.ready"
        central = site.start("central", [sys.executable, "-m", "central.cli", "run", "--broker",
                                         site.broker.url, "--ready-file", str(ready)], site.c_home)
        _wait(ready.exists, 60, "sitegate-central run", central, site.logs / "central.log")
        daemon = site.start("gateway", [sys.executable, "-m", "gateway.cli", "run", "-c",
                                        str(site.gw_home / "site.toml")], site.gw_home)
        roster = None

        def roster_complete() -> bool:
            nonlocal roster
            from gateway.roster.store import read_central_state
            state = read_central_state(cfg.roster.path)
            if not state or not state.get("version"):
                return False
            if roster is None:
                from gateway.site import open_roster
                roster = open_roster(cfg)
            found = {p.key: roster.by_id_number(p.id_number) for p in staff}
            if all(found.values()):
                site.wid.update({k: w.worker_id for k, w in found.items()})
                return True
            return False
        try:
            _wait(roster_complete, 90, "the roster from central", daemon, site.logs / "gateway.log")
        finally:
            if roster is not None:
                roster.close()
        site.say(f"  roster from central: {len(site.wid)} workers (registry ids "
                 f"{', '.join(list(site.wid.values())[:3])}, …)")

    with site.step(f"the past month ({site.month}): simulated passages into the outbox"):
        site.halt("gateway")                    # one writer per outbox: the daemon rests meanwhile
        rows, present = D.history(site.month, [site.wid[p.key] for p in staff], GATEWAY)
        from gateway.site import open_outbox
        outbox = open_outbox(cfg)
        try:
            for ts, body in rows:
                outbox.append(body, ts_ms=ts)
        finally:
            outbox.close()
        r.records["simulated_month"] = len(rows)
        r.records["days_present"] = present          # registry worker id -> days in the month
        site.present = present
        _enrol(site, staff)

    with site.step("today: the daemon again, lanes, phone page and web app up"):
        daemon = site.start("gateway", [sys.executable, "-m", "gateway.cli", "run", "-c",
                                        str(site.gw_home / "site.toml")], site.gw_home)
        _wait(lambda: _lanes_up(cfg), 90, "the lanes", daemon, site.logs / "gateway.log")
        _wait(lambda: _http_up(cfg.web.port), 60, "the web app", daemon, site.logs / "gateway.log")
        _wait(lambda: _http_up(cfg.phone_port, tls=True), 60, "the phone page", daemon,
              site.logs / "gateway.log")
        link = _link(site)
        r.web = {"url": f"http://127.0.0.1:{cfg.web.port}/", "user": MANAGER}
        if not site.quiet:
            site.console.print(f"  web app: {link} (one-time sign-in link, 10 minutes, this "
                               "machine only)", soft_wrap=True, highlight=False)

    with site.step("lanes: cards at the entry and exit turnstiles"):
        _lanes(site, staff, ended, visitor)

    with site.step("phone: clock-ins on the road's corridor fence (GCJ-02)"):
        _phone(site, staff)

    with site.step("the spine: every record acknowledged by central"):
        head, _ = site.outbox_state()
        _wait(lambda: site.outbox_state()[1] >= head, 120, "central's acknowledgements",
              site.procs.get("gateway"), site.logs / "gateway.log")
        head, acked = site.outbox_state()
        r.records.update(produced=head, acknowledged=acked)

    with site.step(f"central: the month's payroll, warnings on {site.today}"):
        _central_month(site, staff)

    with site.step(f"the monthly 考勤表 for {site.month}"):
        sheet = site.files / f"考勤表-{site.month}.xlsx"
        site.gateway("export", "attendance", "-c", str(site.gw_home / "site.toml"), "--month",
                     site.month, "-o", str(sheet))
        r.artefacts["attendance sheet (考勤表)"] = str(sheet)
        today_csv = site.files / f"考勤表-{site.today:%Y-%m}.csv"
        site.gateway("export", "attendance", "-c", str(site.gw_home / "site.toml"), "--month",
                     f"{site.today:%Y-%m}", "-o", str(today_csv))
        r.artefacts["attendance sheet, this month (CSV)"] = str(today_csv)

    from gateway.ops.inventory import inventory
    r.databases = {role: info.as_dict() for role, info in inventory(cfg).items()}
    link = _link(site)
    r.web["link"] = link
    r.artefacts.update({"gateway config": str(site.gw_home / "site.toml"),
                        "gateway outbox": str(cfg.outbox_path),
                        "attendance ledger": str(site.gw_home / "attendance.db"),
                        "fence (GCJ-02 corridor)": str(site.files / "road.geojson"),
                        "gateway log": str(site.logs / "gateway.log"),
                        "central log": str(site.logs / "central.log")})
    _check(site)


CAST_MARGIN = 0.95       # the demo's pairs sit inside the model's verify threshold (dlib: 0.40 of 0.42)


def _camera_frame(photo: Path) -> bytes | None:
    """The photo as the lane's camera would frame the person at the turnstile: head and
    shoulders filling a 640x480 picture (JPEG); None when no single face is found."""
    import cv2
    import numpy as np
    from biometrics.faces import FaceError, Quality, analyse
    data = photo.read_bytes()
    try:
        face = analyse(data, Quality.none(), encode=False, detect_width=640)
    except (FaceError, ValueError):
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    top, right, bottom, left = face.box
    size = max(bottom - top, right - left)
    cy, cx = (top + bottom) // 2, (left + right) // 2
    half_w, half_h = int(size * 1.6), int(size * 1.2)
    y0, y1 = max(0, cy - half_h), min(img.shape[0], cy + half_h)
    x0, x1 = max(0, cx - half_w), min(img.shape[1], cx + half_w)
    crop = img[y0:y1, x0:x1]
    s = min(640 / crop.shape[1], 480 / crop.shape[0])
    crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    canvas = np.full((480, 640, 3), 110, np.uint8)
    y, x = (480 - crop.shape[0]) // 2, (640 - crop.shape[1]) // 2
    canvas[y:y + crop.shape[0], x:x + crop.shape[1]] = crop
    ok, jpg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return jpg.tobytes() if ok else None


def _cast(site: Site, sets: list[list[Path]], wanted: int) -> list[list[Path]]:
    """For each person, two camera frames (640x480, as the lane's camera delivers) that the face
    stack finds and places close together: one to enrol, one for the lane and the phone.
    People whose photos do not qualify are passed over; at most ``wanted`` are returned."""
    import numpy as np
    from biometrics.engines import get_engine
    from biometrics.enrol import enrol_images
    from biometrics.matching import Thresholds
    engine = get_engine()                       # the default model, as the demo's lanes use it
    limit = CAST_MARGIN * Thresholds.for_model(engine.name).verify

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        if engine.metric == "cosine":
            return 1.0 - float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
        return float(np.linalg.norm(a - b))

    out_dir = site.files / "faces"
    out_dir.mkdir(parents=True, exist_ok=True)
    cast: list[list[Path]] = []
    for n, photos in enumerate(sets):
        if len(cast) >= wanted:
            break
        seen: list[tuple[Path, np.ndarray]] = []
        for i, photo in enumerate(photos):
            frame = _camera_frame(photo)
            if frame is None:
                continue
            res = enrol_images([(photo.name, frame)], engine=engine)
            if not res.accepted:
                continue
            path = out_dir / f"person{n + 1}-{i + 1}.jpg"
            path.write_bytes(frame)
            enc = np.asarray(res.accepted[0], dtype=float)
            pair = next((p for p, e in seen if distance(e, enc) <= limit), None)
            if pair is not None:
                cast.append([pair, path])
                break
            seen.append((path, enc))
    return cast


def _check_faces_stack(photo: Path) -> None:
    """Fail early, naming the extra, when the face stack cannot analyse a photo."""
    try:
        from biometrics.faces import FaceError, Quality, analyse
        try:
            analyse(photo.read_bytes(), Quality.none(), detect_width=320)
        except FaceError:
            pass                                 # the stack works; this photo is just poor
    except (ImportError, SystemExit) as exc:     # face_recognition quit()s without pkg_resources
        raise DemoError(f"--faces needs the face stack: pip install 'sitegate[faces]' "
                        f"({type(exc).__name__}: {exc})") from None


def _make_gateway(site: Site, staff) -> object:
    from drivers.sim.idcard import IdCardSimulator
    from drivers.sim.turnstile import TurnstileSimulator
    from gateway.config import load
    entry = IdCardSimulator([], link=str(site.files / "idcard-entry")).start()
    exit_ = IdCardSimulator([], link=str(site.files / "idcard-exit")).start()
    board = TurnstileSimulator(link=str(site.files / "relay-board"), lanes={0: 0, 1: 1},
                               walk_time=0.3, sensor_time=0.3).start()
    site.sims += [entry, exit_, board]
    site.readers = {"entry": entry, "exit": exit_}
    site.board = board
    mode, cam = "card", {}
    if site.faces_dir is not None:
        from drivers.sim.camera import CameraSimulator
        blank = _blank_frame(site.files / "empty-lane.png")
        for lane in ("entry", "exit"):
            site.cams[lane] = CameraSimulator([blank], fps=10).start()
            cam[lane] = f'camera = "{site.cams[lane].url}"\n'
        mode = "card+face"
    site.broker_port = free_port()
    web_port, phone_port = free_port(), free_port()
    lanes = "".join(f"""
[lanes.{lane}]
dir = "{direction}"
mode = "{mode}"
idcard = "{site.readers[lane].path}"
{cam.get(lane, '')}gate = "{board.path}"
relay = {relay}
sensor = {relay}
passage_timeout_s = 4
""" for lane, direction, relay in (("entry", "in", 0), ("exit", "out", 1)))
    text = f"""# sitegate demo site (made up; see `sitegate demo --help`)
[gateway]
id = "{GATEWAY}"
project = "{D.PROJECT}"

[broker]
url = "mqtt://127.0.0.1:{site.broker_port}"   # the demo's embedded broker: no TLS, no accounts

[uplink]
linger_s = 0.1
ack_timeout_s = 5
state_interval_s = 2

[phone]
listen = "127.0.0.1"
port = {phone_port}

[web]
listen = "127.0.0.1"
port = {web_port}
signin_link_user = "{MANAGER}"   # one-time sign-in links, for this account only (demo)

[faces]
liveness = "off"                 # still photos cannot turn their heads
{lanes}"""
    (site.gw_home / "site.toml").write_text(text, encoding="utf-8")
    cfg = load(site.gw_home / "site.toml", home=site.gw_home)
    from gateway.fences.store import add as add_fence
    from gateway.tls import make_cert
    from gateway.web.serve import open_accounts
    add_fence(D.corridor_geojson(site.files / "road.geojson"), home=site.gw_home)
    make_cert(cfg.phone_cert, cfg.phone_key)
    accounts = open_accounts(cfg)
    try:
        accounts.add(MANAGER, "manager", secrets.token_urlsafe(24))   # the link is the way in
    finally:
        accounts.close()
    return cfg


def _blank_frame(path: Path) -> Path:
    import cv2
    import numpy as np
    cv2.imwrite(str(path), np.full((480, 640, 3), 110, np.uint8))
    return path


def _enrol(site: Site, staff) -> None:
    """Phone credentials for the first workers; with photos, face templates for everyone."""
    from gateway.phone.credentials import PhoneStore
    from gateway.site import phone_secret
    cfg = site.cfg
    store = PhoneStore(cfg.phone_db, secret=phone_secret(cfg))
    try:
        for p in staff[:PHONE_WORKERS]:
            store.enrol(site.wid[p.key], p.id_number, PIN)
    finally:
        store.close()
    if site.faces_dir is None:
        return
    from biometrics.enrol import enrol_images
    from gateway.site import open_templates
    templates = open_templates(cfg)
    enrolled = 0
    try:
        for p in staff:
            res = enrol_images([(ph.name, ph.read_bytes()) for ph in p.photos[:1]])
            if res.accepted:
                templates.add(site.wid[p.key], res.accepted)
                enrolled += 1
    finally:
        templates.close()
    site.say(f"  faces enrolled: {enrolled} of {len(staff)} workers (SM4-GCM sealed templates)")


def _lanes_up(cfg) -> bool:
    try:
        health = json.loads((cfg.home / "run" / "health.json").read_text())
    except (OSError, ValueError):
        return False
    lanes = health.get("lanes") or []
    devices = health.get("devices") or []
    return (time.time() - health.get("ts", 0) < 10 and len(lanes) == 2 and all(x["alive"] for x in lanes)
            and devices and all(d["state"] == "connected" for d in devices))


def _http_up(port: int, tls: bool = False) -> bool:
    try:
        if tls:
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=3,
                                            context=ssl._create_unverified_context())
        else:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        c.request("GET", "/login" if not tls else "/?lang=en")
        ok = c.getresponse().status in (200, 303)
        c.close()
        return ok
    except OSError:
        return False


def _link(site: Site) -> str:
    from gateway.web.serve import open_accounts
    accounts = open_accounts(site.cfg)
    try:
        token = accounts.issue_link(MANAGER)
    finally:
        accounts.close()
    return f"http://127.0.0.1:{site.cfg.web.port}/signin/{token}"


def _tap(site: Site, lane: str, person, label: str) -> dict:
    """Present a card at a lane (with faces: the person in front of its camera) and return the
    lane's decision as committed to the outbox."""
    before, _ = site.outbox_state()
    passages = len(site.board.passages)
    cam = site.cams.get(lane)
    if cam is not None and person.photos:
        cam.show([person.photos[1]])
        time.sleep(0.3)
    site.readers[lane].tap(person.card)
    try:
        _wait(lambda: site.outbox_state()[0] > before, 30, f"the {lane} lane's decision",
              site.procs.get("gateway"), site.logs / "gateway.log")
        time.sleep(0.2)
    finally:
        site.readers[lane].remove()
        if cam is not None:
            cam.show([site.files / "empty-lane.png"])
    body = [rec["body"] for rec in site.records_after(before) if rec["body"].get("lane") == lane][-1:]
    body = body[0] if body else {}
    _wait(lambda: len(site.board.passages) > passages or body.get("decision") != "allow", 10,
          "the passage")
    out = {"lane": lane, "who": label, "worker": body.get("worker"), "decision": body.get("decision"),
           "reason": body.get("reason"), "passed": len(site.board.passages) > passages}
    style = "green" if out["decision"] == "allow" else "yellow"
    why = f" ({out['reason']})" if out["reason"] and out["decision"] != "allow" else ""
    site.say(f"  {lane:5} {label:10} → [{style}]{out['decision']}[/]{why}")
    time.sleep(0.5)                              # the reader sees the card leave
    return out


def _lanes(site: Site, staff, ended, visitor) -> None:
    r = site.report
    for p in staff:
        r.lanes.append(_tap(site, "entry", p, p.name))
    r.lanes.append(_tap(site, "entry", visitor, visitor.name))
    for p in staff[:len(staff) // 2]:
        if p is not ended:
            r.lanes.append(_tap(site, "exit", p, p.name))


class _Phone:
    """A phone on the site's network: HTTPS to the page, the page's certificate pinned."""

    def __init__(self, port: int, cert: Path) -> None:
        self.port, self.ctx, self.cookie = port, ssl.create_default_context(cafile=str(cert)), None

    def post(self, path: str, obj: dict) -> tuple[int, dict]:
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)
        try:
            headers = {"Content-Type": "application/json"}
            if self.cookie:
                headers["Cookie"] = self.cookie
            c.request("POST", path, json.dumps(obj).encode(), headers)
            resp = c.getresponse()
            data = resp.read()
            if resp.getheader("Set-Cookie"):
                self.cookie = resp.getheader("Set-Cookie").split(";")[0]
            return resp.status, json.loads(data or b"{}")
        finally:
            c.close()


def _selfie(person, nonce: str) -> str:
    """The photo the page takes after the attempt code arrived, stamped with it (JPEG)."""
    import base64

    import cv2
    import numpy as np
    from gateway.phone.attempts import stamp_selfie
    if person.photos:
        img = cv2.imread(str(person.photos[-1]))
    else:
        img = np.full((480, 360, 3), 140, np.uint8)                  # no photo: no face in it
    noise = np.random.default_rng().normal(0, 2.0, img.shape)       # a camera never repeats
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return "data:image/jpeg;base64," + base64.b64encode(stamp_selfie(jpg.tobytes(), nonce)).decode()


def _phone(site: Site, staff) -> None:
    cfg, r = site.cfg, site.report
    fixes = D.phone_fixes()
    for p in staff[:PHONE_WORKERS]:
        phone = _Phone(cfg.phone_port, cfg.phone_cert)
        code, out = phone.post("/api/login", {"id_number": p.id_number, "pin": PIN})
        if code != 200:
            r.phone.append({"who": p.name, "status": "sign-in refused", "code": out.get("code")})
            continue
        for where in ("off_road", "on_road"):
            lon, lat = fixes[where]
            _, att = phone.post("/api/attempt", {})
            body = {"nonce": att["nonce"], "lon": lon, "lat": lat, "accuracy": 8, "crs": "wgs84",
                    "dir": "in", "selfie": _selfie(p, att["nonce"])}
            code, out = phone.post("/api/clockin", body)
            row = {"who": p.name, "where": where, "status": out.get("status"), "code": out.get("code"),
                   "distance_m": out.get("distance_m"), "seq": out.get("seq")}
            r.phone.append(row)
            style = "green" if row["status"] == "ok" else "yellow"
            site.say(f"  phone {p.name:8} {where:8} → [{style}]{row['status']}[/]"
                     f"{' seq ' + str(row['seq']) if row['seq'] else ''}"
                     f"{' (' + str(row['code']) + ')' if row['code'] and row['status'] != 'ok' else ''}")
            if where == "on_road":                       # the same attempt sent again: a replay
                code, again = phone.post("/api/clockin", body)
                r.phone.append({"who": p.name, "where": "replay", "status": again.get("code"),
                                "http": code})
    if site.faces_dir is None:
        r.notes.append("phone: without --faces no selfie can match, so the page records no phone "
                       "clock-in (the fence decision is still shown)")


def _central_month(site: Site, staff) -> None:
    r = site.report
    present = {site.wid[k.key]: site.present[site.wid[k.key]] for k in staff}
    unpaid, overpaid = site.wid[staff[1].key], site.wid[staff[2].key]
    paid = {w: d + (2 if w == overpaid else 0) for w, d in present.items() if w != unpaid}
    for kind, path in D.payroll_files(site.files / "payroll", site.month, paid, site.today):
        site.central("import", kind, str(path), "--no-evaluate")
        r.artefacts[f"central {kind}"] = str(path)
    verify = json.loads(site.central("verify", "--gateway", GATEWAY, "--json").stdout)[0]
    r.central = {"verified_records": verify["verified_records"], "last_seq": verify["last_seq"],
                 "ok": verify["ok"], "problems": verify["problems"], "rejections": verify["rejections"]}
    stats = json.loads(site.central("warnings", "evaluate", "--on", site.today.isoformat(),
                                    "--project", D.PROJECT, "--json").stdout)
    listed = site.central("warnings", "list", "--project", D.PROJECT, "--json").stdout
    path = site.files / "warnings.json"
    path.write_text(listed, encoding="utf-8")
    warnings = json.loads(listed)
    by_rule: dict[str, int] = {}
    for w in warnings:
        by_rule[w["rule"]] = by_rule.get(w["rule"], 0) + 1
    r.warnings = {"evaluated_on": site.today.isoformat(), "stats": stats, "by_rule": by_rule,
                  "count": len(warnings), "unpaid_worker": unpaid, "overpaid_worker": overpaid}
    r.artefacts["central warnings (JSON)"] = str(path)
    site.say(f"  central verified {verify['verified_records']} records; warnings: "
             + ", ".join(f"{k}×{v}" for k, v in sorted(by_rule.items())))


def _check(site: Site) -> None:
    """What must hold for the demo to say OK."""
    r = site.report
    allowed = [x for x in r.lanes if x["decision"] == "allow"]
    if not allowed or not all(x["passed"] for x in allowed):
        r.problems.append("lanes: no worker passed, or a gate did not open for an allowed worker")
    if not any(x["decision"] == "deny" and x["reason"] == "unknown_worker" for x in r.lanes):
        r.problems.append("lanes: the unknown card was not refused")
    if r.records.get("acknowledged") != r.records.get("produced"):
        r.problems.append("spine: not every record was acknowledged")
    if not r.central.get("ok") or r.central.get("verified_records") != r.records.get("produced"):
        r.problems.append(f"central: verification {r.central}")
    if not r.warnings.get("count"):
        r.problems.append("central: no warnings after the month (the demo's payroll leaves one "
                          "worker unpaid)")
    for name, path in r.artefacts.items():
        if not Path(path).exists():
            r.problems.append(f"artefact missing: {name} ({path})")


def _write_summary(site: Site) -> None:
    path = site.folder / "summary.json"
    site.report.artefacts["summary (JSON)"] = str(path)
    path.write_text(json.dumps(site.report.as_dict(), ensure_ascii=False, indent=1, default=str),
                    encoding="utf-8")


def print_report(report: Report, console: Console) -> None:
    from rich.table import Table
    table = Table(title=f"sitegate demo · {report.folder}")
    table.add_column("what")
    table.add_column("result")
    allowed = sum(1 for x in report.lanes if x["decision"] == "allow")
    refused = [f"{x['who']}: {x['reason']}" for x in report.lanes if x["decision"] != "allow"]
    table.add_row("lanes (entry + exit)", f"{allowed} passed; refused: {'; '.join(refused) or 'none'}")
    phone_ok = sum(1 for x in report.phone if x.get("status") == "ok")
    outside = sum(1 for x in report.phone if x.get("status") == "outside")
    replays = sum(1 for x in report.phone if x.get("where") == "replay" and x.get("http") == 409)
    table.add_row("phone (corridor fence)", f"{phone_ok} clocked in, {outside} outside the fence, "
                  f"{replays} replays refused")
    rec = report.records
    table.add_row("records", f"{rec.get('produced', 0)} committed ({rec.get('simulated_month', 0)} "
                  f"simulated for {report.month}), {rec.get('acknowledged', 0)} acknowledged")
    c = report.central
    table.add_row("central", f"{c.get('verified_records', 0)} verified, problems: "
                  f"{len(c.get('problems') or [])}")
    w = report.warnings
    table.add_row(f"warnings on {w.get('evaluated_on', '-')}",
                  ", ".join(f"{k}×{v}" for k, v in sorted((w.get("by_rule") or {}).items())) or "none")
    table.add_row("web app", f"{report.web.get('link', '-')}\n(one-time sign-in as "
                  f"{report.web.get('user', '-')}, 10 minutes, this machine only)")
    table.add_row("result", "[green]OK[/]" if report.ok else "[red]FAILED[/]")
    console.print(table)
    for name, path in report.artefacts.items():
        console.print(f"  {name:36} {path}", soft_wrap=True, highlight=False)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    for p in report.problems:
        console.print(f"[red]problem:[/] {p}")
    central_home = Path(report.folder) / "central"
    console.print(f"[dim]central's data: SITEGATE_HOME={central_home} sitegate-central warnings list[/]",
                  soft_wrap=True)
