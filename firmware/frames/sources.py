"""Frame sources behind one seam: picamera2, OpenCV (V4L2, RTSP/HTTP, video file) and image folders.

A source only knows how to open, hand over the next image and close. Timing, sequence numbers,
stall detection and reopening live in `CameraWorker`, so every source behaves the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


class CameraError(Exception):
    """The camera cannot be opened or stopped delivering; the worker reopens it with backoff."""


class EndOfStream(Exception):
    """A finite source (folder, video file) has no more frames."""


class FrameSource(Protocol):
    camera_id: str
    finite: bool          # folders and files end; live cameras do not

    def open(self) -> None: ...

    def read(self) -> np.ndarray:
        """Next BGR image. Raises EndOfStream at the end of a finite source, CameraError on failure."""
        ...

    def close(self) -> None: ...


def to_bgr(image: np.ndarray) -> np.ndarray:
    """IR cameras give grayscale; the rest of the pipeline always sees 3 channels."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class FolderSource:
    """Images of a folder in name order: replayed footage, HIL scenarios, the demo clip."""

    finite = True

    def __init__(self, camera_id: str, folder: Path):
        self.camera_id = camera_id
        self.folder = Path(folder)
        self._files: list[Path] = []
        self._index = 0
        self.unreadable = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"folder {self.folder} does not exist")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self._index = 0
        if not self._files:
            raise CameraError(f"folder {self.folder} holds no images")

    def read(self) -> np.ndarray:
        while self._index < len(self._files):
            path = self._files[self._index]
            self._index += 1
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is not None:
                return to_bgr(image)
            self.unreadable += 1
            log.warning("unreadable image skipped", extra={"event": "frames.unreadable", "path": str(path)})
        raise EndOfStream(str(self.folder))

    def close(self) -> None:
        self._files = []


class OpenCVSource:
    """V4L2 device (/dev/videoN or an index), RTSP/HTTP URL, or a video file, through cv2.VideoCapture."""

    def __init__(self, camera_id: str, uri: str, width: int, height: int, fps: float, read_timeout_s: float):
        self.camera_id = camera_id
        self.uri = uri
        self.width, self.height, self.fps = width, height, fps
        self.read_timeout_s = read_timeout_s
        self.finite = Path(uri).is_file()
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        target: str | int = int(self.uri) if self.uri.isdigit() else self.uri
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.read_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000),
        ]
        cap = cv2.VideoCapture(target, cv2.CAP_ANY, params)
        if not cap.isOpened():
            raise CameraError(f"cannot open {self.uri}")
        if not self.finite:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError("not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            if self.finite:
                raise EndOfStream(self.uri)
            raise CameraError(f"{self.uri} delivered no frame")
        return to_bgr(image)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class Picamera2Source:
    """Raspberry Pi CSI camera. picamera2 is imported only here, so other platforms never need it."""

    finite = False

    def __init__(self, camera_id: str, index: int, width: int, height: int, fps: float):
        self.camera_id = camera_id
        self.index, self.width, self.height, self.fps = index, width, height, fps
        self._cam = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError as exc:
            raise CameraError("picamera2 is not installed (pip install 'alpr-unit[pi]' on the Pi)") from exc
        try:
            cam = Picamera2(self.index)
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": "RGB888"},
                controls={"FrameRate": self.fps},
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # libcamera raises many types; all mean "camera unavailable"
            raise CameraError(f"picamera2 camera {self.index}: {exc}") from exc
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise CameraError("not open")
        try:
            return to_bgr(self._cam.capture_array("main"))  # RGB888 in picamera2 is BGR in memory order
        except Exception as exc:
            raise CameraError(f"picamera2 capture failed: {exc}") from exc

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


def build_source(camera) -> FrameSource:
    """A source for one `CameraConfig`."""
    if camera.kind == "folder":
        return FolderSource(camera.id, Path(camera.uri))
    if camera.kind == "opencv":
        return OpenCVSource(camera.id, camera.uri, camera.width, camera.height, camera.fps, camera.stall_timeout_s)
    if camera.kind == "picamera2":
        return Picamera2Source(camera.id, int(camera.uri or 0), camera.width, camera.height, camera.fps)
    raise ValueError(f"unknown camera kind {camera.kind}")
