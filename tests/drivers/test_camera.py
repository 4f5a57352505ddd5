"""Camera capture with reconnect, against the MJPEG simulator (real HTTP, decoded by OpenCV's
FFmpeg backend) and a video file made from the face photos."""
from __future__ import annotations

import pytest

from paths import FACES as SHARED_FACES
from drivers.camera import Camera, CameraStatus, parse_source
from drivers.sim.camera import CameraSimulator, free_port, image_files, write_video

pytestmark = pytest.mark.timeout(60)
FACES = SHARED_FACES / "asian_faces"


@pytest.fixture(scope="module")
def photos():
    return image_files([FACES])[:4]


def test_parse_source():
    assert parse_source("0") == 0 and parse_source(2) == 2
    assert parse_source("rtsp://cam/1") == "rtsp://cam/1"


def test_stream_reconnects_after_unplug(photos):
    statuses = []
    with CameraSimulator(photos, fps=30, port=free_port(), size=(320, 240)) as sim:
        cam = Camera(sim.url, reconnect_interval=0.1, timeout=1.0, on_status=statuses.append)
        frame = cam.wait_frame(5)
        assert frame is not None and frame.shape == (240, 320, 3)
        sim.unplug()
        assert cam.wait_frame(1.0) is None
        assert cam.state == "lost"
        sim.replug()
        assert cam.wait_frame(5) is not None
        cam.close()
    assert [s.state for s in statuses] == ["connected", "lost", "connected"]
    assert all(isinstance(s, CameraStatus) for s in statuses)


def test_frames_are_the_images(photos):
    import cv2
    import numpy as np
    with CameraSimulator(photos[:1], fps=30, port=free_port(), size=(320, 240)) as sim:
        cam = Camera(sim.url, timeout=1.0)
        frame = cam.wait_frame(5)
        cam.close()
    ref = cv2.resize(cv2.imread(str(photos[0])), (320, 240))
    assert np.abs(frame.astype(int) - ref.astype(int)).mean() < 8      # JPEG round trip


def test_file_source_and_loop(photos, tmp_path):
    video = write_video(photos, tmp_path / "gate.avi", size=(320, 240))
    cam = Camera(str(video), loop_file=True)
    frames = [cam.read() for _ in range(len(photos) * 2 + 1)]
    assert all(f is not None for f in frames) and cam.frames_read == len(frames)
    cam.close()
    once = Camera(str(video), reconnect_interval=10)
    assert [once.read() is not None for _ in range(len(photos) + 1)] == [True] * len(photos) + [False]
    assert once.state == "lost"


def test_missing_device_is_lost_not_an_exception(tmp_path):
    cam = Camera(str(tmp_path / "nope.avi"), reconnect_interval=0.05)
    assert cam.read() is None and cam.state == "lost"
