import threading
import time

import cv2
import numpy as np
import pytest

from firmware.clock import SystemClock
from firmware.frames.sources import CameraError, EndOfStream, FolderSource, OpenCVSource
from firmware.frames.worker import CameraWorker, FrameQueue


def write_images(folder, n, size=(48, 64)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((*size, 3), i * 10 % 255, np.uint8)
        cv2.imwrite(str(folder / f"f{i:03d}.png"), img)


def test_folder_source_reads_in_name_order_and_skips_unreadable(tmp_path):
    write_images(tmp_path, 3)
    (tmp_path / "f001b.jpg").write_bytes(b"not a jpeg")
    gray = np.full((20, 30), 200, np.uint8)
    cv2.imwrite(str(tmp_path / "f999.png"), gray)
    src = FolderSource("front", tmp_path)
    src.open()
    shades = [int(src.read()[0, 0, 0]) for _ in range(4)]
    assert shades == [0, 10, 20, 200]          # grayscale converted to 3 channels, junk skipped
    assert src.unreadable == 1
    with pytest.raises(EndOfStream):
        src.read()


def test_missing_folder_is_a_camera_error(tmp_path):
    with pytest.raises(CameraError):
        FolderSource("front", tmp_path / "nope").open()


def test_video_file_source(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    src = OpenCVSource("front", str(path), 64, 48, 10, 2.0)
    assert src.finite
    src.open()
    n = 0
    with pytest.raises(EndOfStream):
        while True:
            assert src.read().shape == (48, 64, 3)
            n += 1
    assert n == 5


def test_frame_queue_drops_oldest_and_counts():
    q = FrameQueue(2)
    for i in range(5):
        q.put(i)
    assert q.dropped == 3
    assert [q.get(0.01), q.get(0.01)] == [3, 4]
    assert q.get(0.01) is False
    q.close()
    assert q.get(0.01) is None


def drain(worker, timeout=60):
    frames = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = worker.queue.get(0.1)
        if item is None:
            break
        if item is not False:
            frames.append(item)
    return frames


def test_worker_stamps_frames_and_paces_replay(tmp_path):
    write_images(tmp_path, 6)
    worker = CameraWorker(FolderSource("front", tmp_path), SystemClock(), fps=20, loop=False, queue_size=16,
                          stall_timeout_s=2, backoff_max_s=1)
    started = time.monotonic()
    worker.start()
    frames = drain(worker)
    worker.stop()
    assert [f.seq for f in frames] == list(range(6))
    assert all(b.mono_ns > a.mono_ns for a, b in zip(frames, frames[1:]))
    assert all(f.utc.tzinfo is not None and f.camera_id == "front" for f in frames)
    assert time.monotonic() - started >= 0.2    # 6 frames at 20 fps are paced, not dumped at once
    assert worker.ended


class FlakySource:
    """Delivers frames, then fails like an unplugged USB camera, then comes back."""

    finite = False

    def __init__(self):
        self.camera_id = "rear"
        self.opens = 0
        self.reads = 0
        self.fail_between = (3, 6)

    def open(self):
        self.opens += 1
        if self.opens in (2, 3):
            raise CameraError("device vanished")

    def read(self):
        self.reads += 1
        if self.fail_between[0] <= self.reads < self.fail_between[1] and self.opens == 1:
            raise CameraError("read failed")
        time.sleep(0.01)
        return np.zeros((8, 8, 3), np.uint8)

    def close(self):
        pass


def test_camera_failure_is_a_malfunction_and_it_reopens_with_backoff():
    events = []
    worker = CameraWorker(FlakySource(), SystemClock(), fps=50, loop=False, queue_size=4, stall_timeout_s=5,
                          backoff_max_s=0.2, on_event=lambda kind, src, detail: events.append((kind, src)))
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.frames < 10:
        worker.queue.get(0.1)
    worker.stop()
    assert worker.frames >= 10
    assert events[0] == ("malfunction", "camera:rear")
    assert ("back_in_service", "camera:rear") in events
    assert worker.source.opens >= 4


class HangingSource:
    finite = False

    def __init__(self):
        self.camera_id = "front"
        self.release = threading.Event()
        self.count = 0

    def open(self):
        pass

    def read(self):
        self.count += 1
        if self.count > 2:
            self.release.wait(5)
        return np.zeros((8, 8, 3), np.uint8)

    def close(self):
        pass


def wait_for(predicate, timeout=60.0) -> bool:
    """A condition, not a fixed sleep: a loaded machine delays threads by seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_camera_that_hangs_is_detected_as_stalled():
    events = []
    src = HangingSource()
    worker = CameraWorker(src, SystemClock(), fps=50, loop=False, queue_size=4, stall_timeout_s=0.3,
                          backoff_max_s=0.2, on_event=lambda kind, s, detail: events.append((kind, detail)))
    worker.start()
    assert wait_for(worker.check_stall), "a hanging read must be seen as a stall"
    assert events and events[0][0] == "malfunction" and events[0][1]["reason"] == "stall"
    src.release.set()
    assert wait_for(lambda: any(kind == "back_in_service" for kind, _ in events)), events
    worker.stop()
