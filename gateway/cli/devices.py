"""``sitegate sim …`` and ``sitegate probe …``: thin click shells over drivers.sim / drivers.

Registered in gateway/cli.py with ``main.add_command(sim)`` and ``main.add_command(probe)``."""
from __future__ import annotations

import json
import signal
import sys
import threading
import time

import click

from gateway.words import tr


def _serve(device, banner: str, duration: float | None, every=None) -> None:
    """Run a started simulator until Ctrl-C / SIGTERM or ``duration`` seconds."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(banner, err=False)
    sys.stdout.flush()
    deadline = time.monotonic() + duration if duration else None
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if every:
                every()
            stop.wait(0.05)
    finally:
        device.stop()


@click.group()
def sim() -> None:
    """Device simulators that speak the real bytes (pseudo-terminals / HTTP)."""


@sim.command("idcard")
@click.option("--cards", "cards_file", type=click.Path(exists=True, dir_okay=False),
              help="Identity file (JSON array or JSON Lines); default: built-in samples.")
@click.option("--link", help="Stable path for the pty (a symlink); default: a temp path.")
@click.option("--dwell", type=float, default=3.0, show_default=True, help="Seconds each card lies on the reader.")
@click.option("--gap", type=float, default=2.0, show_default=True, help="Seconds between cards.")
@click.option("--loop/--once", default=True, show_default=True, help="Repeat the card queue.")
@click.option("--after-read", type=click.Choice(["halt", "stay", "alternate"]), default="halt",
              show_default=True, help="How find answers while a read card stays on the reader.")
@click.option("--junk", default="", help="Hex bytes written before every reply, e.g. 'AA 00'.")
@click.option("--split", type=int, help="Write replies in chunks of N bytes.")
@click.option("--split-gap", type=float, default=0.005, show_default=True)
@click.option("--delay", type=float, default=0.0, help="Seconds before each reply.")
@click.option("--pace/--no-pace", default=True, show_default=True, help="Send at wire speed (--baud).")
@click.option("--baud", type=int, default=115200, show_default=True)
@click.option("--unplug-every", type=float, help="Unplug every N seconds ...")
@click.option("--unplug-for", type=float, default=2.0, show_default=True, help="... for this long.")
@click.option("--duration", type=float, help="Stop after N seconds (default: until Ctrl-C).")
def sim_idcard(cards_file, link, dwell, gap, loop, after_read, junk, split, split_gap, delay, pace,
               baud, unplug_every, unplug_for, duration) -> None:
    """ID-card reader (SAM protocol) on a pseudo-terminal."""
    from drivers.sim.idcard import IdCardSimulator, SamFaults, load_identities
    from drivers.sim.samples import ALL_CARDS
    cards = load_identities(cards_file) if cards_file else list(ALL_CARDS)
    faults = SamFaults(junk=bytes.fromhex(junk), split=split, split_gap=split_gap if split else 0.0,
                       delay=delay)
    dev = IdCardSimulator(cards, link=link, baud=baud if pace else None, after_read=after_read,
                          dwell=dwell, gap=gap, loop=loop, faults=faults).start()
    state = {"next": time.monotonic() + (unplug_every or 0), "out": False}

    def plug_cycle() -> None:
        if not unplug_every or time.monotonic() < state["next"]:
            return
        if state["out"]:
            dev.replug()
            click.echo(f"replugged {dev.path} -> {dev.tty}")
            state.update(out=False, next=time.monotonic() + unplug_every)
        else:
            dev.unplug()
            click.echo(f"unplugged {dev.path}")
            state.update(out=True, next=time.monotonic() + unplug_for)

    _serve(dev, f"idcard simulator on {dev.path} (tty {dev.tty}), {len(cards)} cards", duration,
           plug_cycle)


@sim.command("turnstile")
@click.option("--link", help="Stable path for the pty.")
@click.option("--slave", type=int, default=1, show_default=True)
@click.option("--walk-time", type=float, default=0.8, show_default=True,
              help="Seconds from relay pulse to the passage sensor.")
@click.option("--walk-away", is_flag=True, help="Nobody passes (the gateway must time out).")
@click.option("--duration", type=float)
def sim_turnstile(link, slave, walk_time, walk_away, duration) -> None:
    """Modbus RTU relay board + turnstile on a pseudo-terminal (9600 8N1 is what drivers use)."""
    from drivers.sim.turnstile import TurnstileSimulator
    dev = TurnstileSimulator(link=link, slave=slave, walk_time=walk_time, walk_away=walk_away).start()
    seen = {"n": 0}

    def report() -> None:
        while seen["n"] < len(dev.pulses):
            click.echo(f"relay {dev.pulses[seen['n']]} closed")
            seen["n"] += 1

    _serve(dev, f"turnstile simulator on {dev.path} (tty {dev.tty}), slave {slave}", duration, report)


@sim.command("http-turnstile")
@click.option("--port", type=int, default=8090, show_default=True, help="HTTP port on 127.0.0.1 (0 = any).")
@click.option("--doors", default="1,2", show_default=True, help="Door numbers the controller has.")
@click.option("--walk-time", type=float, default=0.8, show_default=True,
              help="Seconds from release to the passage count moving.")
@click.option("--walk-away", is_flag=True, help="Nobody passes (the gateway must time out).")
@click.option("--duration", type=float)
def sim_http_turnstile(port, doors, walk_time, walk_away, duration) -> None:
    """Turnstile controller with an HTTP (JSON) interface, for gate_kind = "http-turnstile"."""
    from drivers.sim.httpgate import HttpTurnstileSimulator
    try:
        numbers = [int(d) for d in doors.split(",") if d.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated door numbers, e.g. 1,2", param_hint="--doors") from None
    dev = HttpTurnstileSimulator(numbers, port=port, walk_time=walk_time, walk_away=walk_away).start()
    seen = {"n": 0}

    def report() -> None:
        while seen["n"] < len(dev.opens):
            click.echo(f"door {dev.opens[seen['n']]} released")
            seen["n"] += 1

    _serve(dev, f"http turnstile controller at {dev.url}, doors {numbers}", duration, report)


@sim.command("gps")
@click.option("--link", help="Stable path for the pty.")
@click.option("--rate", type=float, default=1.0, show_default=True, help="Fixes per second.")
@click.option("--talker", default="GN", show_default=True, help="GP, GN, BD, GB, GL ...")
@click.option("--lat", type=float, default=22.8170, show_default=True)
@click.option("--lon", type=float, default=108.3665, show_default=True)
@click.option("--no-fix", is_flag=True, help="Report no fix (quality 0, status V).")
@click.option("--duration", type=float)
def sim_gps(link, rate, talker, lat, lon, no_fix, duration) -> None:
    """GPS receiver (NMEA 0183 GGA + RMC) on a pseudo-terminal."""
    from drivers.sim.gps import GpsSimulator
    dev = GpsSimulator(link=link, rate=rate, talker=talker, lat=lat, lon=lon, fix=not no_fix).start()
    _serve(dev, f"gps simulator on {dev.path} (tty {dev.tty}), talker {talker}", duration)


@sim.command("camera")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--fps", type=float, default=5.0, show_default=True)
@click.option("--port", type=int, default=8554, show_default=True, help="HTTP port (0 = any).")
@click.option("--write", "write_to", type=click.Path(dir_okay=False),
              help="Write an MJPG .avi file instead of serving.")
@click.option("--duration", type=float)
def sim_camera(images, fps, port, write_to, duration) -> None:
    """Play image files (or folders of them) as camera frames: an MJPEG stream over HTTP that
    `--camera URL` opens like an IP camera, or a video file with --write."""
    from drivers.sim.camera import CameraSimulator, write_video
    if write_to:
        click.echo(f"wrote {write_video(images, write_to, fps=fps)}")
        return
    dev = CameraSimulator(images, fps=fps, port=port).start()
    _serve(dev, f"camera simulator at {dev.url} ({len(dev.frames)} frames, {fps} fps)", duration)


# ----------------------------------------------------------------------------- probe
@click.group()
def probe() -> None:
    """Installer checks: talk to a device and show what it answers."""


@probe.command("idcard")
@click.option("--port", required=True, help="Serial port or pyserial URL; 'usb' for the bulk reader.")
@click.option("--baud", type=int, default=115200, show_default=True)
@click.option("--timeout", type=float, default=15.0, show_default=True, help="Seconds to wait for a card.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--reveal", is_flag=True, help="Show the full ID number.")
def probe_idcard(port, baud, timeout, as_json, reveal) -> None:
    """Read one card and print its fields (ID number masked unless --reveal)."""
    from drivers.errors import DeviceLost, DeviceTimeout
    from drivers.sam.reader import CardError, SamReader
    from drivers.transport import SerialTransport, UsbBulkTransport
    try:
        transport = UsbBulkTransport() if port == "usb" else SerialTransport(port, baud)
    except DeviceLost as exc:
        raise click.ClickException(str(exc))
    reader = SamReader(transport, timeout=1.0)
    try:
        try:
            if not reader.status():
                raise click.ClickException(tr("the SAM module reports a fault (status is not 0x90)"))
        except DeviceTimeout:
            raise click.ClickException(tr("no ID-card reader answers on {port} at {baud} baud",
                                          port=port, baud=baud))
        if not as_json:
            click.echo(tr("reader ready on {port}; place a card ...", port=port), err=True)
        ev = reader.wait_card(timeout)
    except DeviceLost as exc:
        raise click.ClickException(tr("reader lost: {why}", why=exc))
    finally:
        reader.close()
    if ev is None:
        raise click.ClickException(tr("no card within {s:g} s", s=timeout))
    if isinstance(ev, CardError):
        if as_json:
            click.echo(json.dumps({"error": ev.reason, "message": ev.message}, ensure_ascii=False))
        raise click.ClickException(tr("card refused ({reason}): {why}", reason=ev.reason,
                                      why=ev.message))
    data = ev.identity.to_dict(reveal=reveal)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for key, value in data.items():
            if value not in (None, [], ""):
                click.echo(f"{key:>18}: {value}")


@probe.command("ports")
@click.option("--port", "extra", multiple=True, help="Also probe this path (e.g. a simulator pty).")
@click.option("--listen", type=float, default=1.2, show_default=True, help="Seconds to listen for NMEA.")
@click.option("--json", "as_json", is_flag=True)
def probe_ports(extra, listen, as_json) -> None:
    """List serial ports and name the device that answers on each."""
    from drivers.probe import identify, list_ports

    from gateway.cli.options import progress_bar
    ports = list(dict.fromkeys([*list_ports(), *extra]))
    infos = []
    with progress_bar(tr("probing serial ports"), len(ports), as_json=as_json) as update:
        for n, p in enumerate(ports, 1):
            infos.append(identify(p, listen=listen))
            update(n)
    if as_json:
        click.echo(json.dumps([i.__dict__ for i in infos], indent=2))
        return
    if not infos:
        click.echo(tr("no serial ports found"))
    for i in infos:
        click.echo(f"{i.port:<32} {i.device or '-':<13} {i.detail}")
