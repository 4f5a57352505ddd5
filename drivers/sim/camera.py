"""Camera simulator: plays image files as frames.

:class:`CameraSimulator` serves them as an MJPEG stream over HTTP (``multipart/x-mixed-replace``,
the stream most IP cameras offer next to RTSP), which OpenCV opens by URL like a real camera.
``unplug()``/``replug()`` drop and restore the stream. :func:`write_video` turns the same images
into an MJPG AVI file for the file source."""
from __future__ import annotations

import itertools
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
    if not out:
        raise ValueError("no image files given")
    return out


def load_frames(paths: Iterable[str | Path], size: tuple[int, int] = (640, 480)) -> list[bytes]:
    """JPEG bytes of each image, resized to one size (a camera has a fixed resolution)."""
    import cv2
    frames = []
    for f in image_files(paths):
        img = cv2.imread(str(f))
        if img is None:
            continue
        ok, jpg = cv2.imencode(".jpg", cv2.resize(img, size), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            frames.append(jpg.tobytes())
    if not frames:
        raise ValueError("none of the images could be decoded")
    return frames


def write_video(paths: Iterable[str | Path], out: str | Path, fps: float = 5.0,
                size: tuple[int, int] = (640, 480), repeat: int = 1) -> Path:
    import cv2
    import numpy as np
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    try:
        for jpg in load_frames(paths, size) * repeat:
            frame = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
            assert frame is not None            # load_frames encoded it a moment ago
            writer.write(frame)
    finally:
        writer.release()
    return Path(out)


class CameraSimulator:
    BOUNDARY = b"sitegateframe"

    def __init__(self, images: Iterable[str | Path], *, fps: float = 10.0, host: str = "127.0.0.1",
                 port: int = 0, size: tuple[int, int] = (640, 480)) -> None:
        self.size = size
        self.frames = load_frames(images, size)
        self.fps, self.host, self.port = fps, host, port
        self.served = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._alive = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/video.mjpg"

    def start(self) -> "CameraSimulator":
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path.split("?")[0] not in ("/video.mjpg", "/"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary="
                                 + sim.BOUNDARY.decode())
                self.end_headers()
                try:
                    for i in itertools.count():
                        if not sim._alive.is_set():
                            break
                        frames = sim.frames          # re-read: show() may change the scene
                        jpg = frames[i % len(frames)]
                        self.wfile.write(b"--" + sim.BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpg)}\r\n\r\n".encode() + jpg + b"\r\n")
                        sim.served += 1
                        time.sleep(1.0 / sim.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._alive.set()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="sim-camera")
        self._thread.start()
        return self

    def show(self, images: Iterable[str | Path], size: tuple[int, int] | None = None) -> None:
        """Change what the camera sees (a new person steps up) without dropping the stream."""
        self.frames = load_frames(images, size or self.size)

    def stop(self) -> None:
        self._alive.clear()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def unplug(self) -> None:
        """Cable pulled: streams end and new connections are refused."""
        self.stop()

    def replug(self) -> None:
        """Back on the same URL."""
        if self._server is None:
            self.start()

    def __enter__(self) -> "CameraSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
