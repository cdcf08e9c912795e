"""From recogniser output to committed evidence: per-camera recognition loop and the read recorder.

`CameraPipeline` turns frames into tracks (consensus) and tracks into reads. `ReadRecorder` tags a
read with GPS, matches it against the hotlists, writes its images, commits it through the single
writer, and only then alerts. Nothing here knows where frames, fixes or lists come from.
"""

from __future__ import annotations

import collections
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from firmware.alerts.alerter import Alerter, alert_for
from firmware.clock import Clock
from firmware.consensus import ConsensusTracker, Track, vote
from firmware.frames.worker import CameraWorker
from firmware.hotlist.match import normalise_plate
from firmware.ids import new_id
from firmware.records import Frame, Hit, PlateCandidate, Position, Read
from firmware.storage.db import Writer
from firmware.storage.held_images import HeldImage, HeldImages
from firmware.storage.reads import attach_image, encode_jpeg, image_paths, save_read, write_durably
from firmware.track_state import StateView, plate_surroundings, read_track_state

log = logging.getLogger(__name__)


class Recognizer(Protocol):
    def recognize(self, image_bgr: np.ndarray) -> list[PlateCandidate]: ...


class PositionProvider(Protocol):
    def position_at(self, mono_ns: int) -> Position: ...


class HotlistMatcher(Protocol):
    def match(self, plate: str, state: str | None = None) -> list[Hit]: ...


def crop_with_margin(image: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.25) -> np.ndarray:
    x, y, w, h = box
    mx, my = int(w * margin), int(h * margin)
    height, width = image.shape[:2]
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(width, x + w + mx), min(height, y + h + my)
    return image[y0:y1, x0:x1]


def scaled(image: np.ndarray, max_width: int) -> np.ndarray:
    height, width = image.shape[:2]
    if width <= max_width:
        return image
    return cv2.resize(image, (max_width, int(height * max_width / width)), interpolation=cv2.INTER_AREA)


@dataclass
class CaptureStats:
    frames: int = 0
    reads: int = 0
    hits: int = 0
    store_failures: int = 0
    images_skipped: int = 0
    unsaved_dropped: int = 0
    held_reads: int = 0          # reads alerted on but not yet stored (storage failing), held in memory
    held_images: int = 0         # images of stored reads waiting in memory for disk space
    held_images_dropped: int = 0  # held images dropped, oldest first, past the bound: data loss
    state_reads: int = 0         # views the state reader was asked about (at most consensus.state_views a vehicle)
    state_conflicts: int = 0     # vehicles whose views named two different states: read without a state
    stage_ms: dict = field(default_factory=lambda: {"recognize": 0.0, "record": 0.0})

    def as_dict(self) -> dict:
        return {"frames": self.frames, "reads": self.reads, "hits": self.hits, "store_failures": self.store_failures,
                "images_skipped": self.images_skipped, "unsaved_dropped": self.unsaved_dropped,
                "held_reads": self.held_reads, "held_images": self.held_images,
                "held_images_dropped": self.held_images_dropped,
                "state_reads": self.state_reads, "state_conflicts": self.state_conflicts,
                "stage_ms_total": {k: round(v, 1) for k, v in self.stage_ms.items()}}


class ReadRecorder:
    def __init__(self, *, unit_id: str, data_dir: Path, writer: Writer, clock: Clock, gnss: PositionProvider,
                 hotlists: HotlistMatcher, alerter: Alerter, storage_config, min_free_mb: int,
                 on_event: Callable[[str, str, dict], None], on_read: Callable[[Read], None] | None = None,
                 on_committed: Callable[[], None] | None = None, unsaved_max: int = 10_000,
                 held_images_max_mb: float = 64):
        self.unit_id = unit_id
        self.data_dir = Path(data_dir)
        self.writer = writer
        self.clock = clock
        self.gnss = gnss
        self.hotlists = hotlists
        self.alerter = alerter
        self.storage = storage_config
        self.min_free_mb = min_free_mb
        self.on_event = on_event
        self.on_read = on_read
        self.on_committed = on_committed or (lambda: None)
        self.stats = CaptureStats()
        self._lock = threading.Lock()
        self._disk_low = False
        self._storage_failing = False
        self._unsaved: collections.deque[Read] = collections.deque(maxlen=unsaved_max)
        self.held_images = HeldImages(int(held_images_max_mb * 2**20))
        self._retrying = threading.Lock()     # one thread at a time commits held reads and writes held images
        self._image_writes_failing = False

    def _disk_ok(self) -> bool:
        try:
            free_mb = shutil.disk_usage(self.data_dir).free / 2**20
        except OSError:
            return False
        low = free_mb < self.min_free_mb
        if low != self._disk_low:
            self._disk_low = low
            kind = "malfunction" if low else "back_in_service"
            self.on_event(kind, "disk", {"free_mb": round(free_mb), "min_free_mb": self.min_free_mb})
        return not low

    def record_track(self, track: Track, camera_id: str) -> Read | None:
        started = time.perf_counter()
        voted = vote([s.candidate for s in track.sightings])
        best = track.best
        frame: Frame = best.payload
        plate = normalise_plate(voted.text)
        if not plate:
            return None
        read_id = new_id()
        read = Read(
            id=read_id, unit_id=self.unit_id, camera_id=camera_id, plate=plate, plate_raw=voted.text,
            state=best.candidate.state, state_confidence=best.candidate.state_confidence,
            state_frames=best.candidate.state_frames,
            confidence=voted.confidence, char_confidences=voted.char_confidences,
            frames=len(track.sightings), box=best.candidate.box, captured_at=frame.utc,
            first_seen_at=frame.utc if track.first is best else _utc_of(track.first, frame),
            clock_source=frame.clock_source, frame_seq=frame.seq, capture_mono_ns=frame.mono_ns,
            position=self.gnss.position_at(frame.mono_ns),
        )
        read = replace(read, hits=tuple(self.hotlists.match(plate, read.state)))
        self.retry_held()   # older held reads and images first: a held image's read is always stored or held
        read = self._write_images(read, frame, best.candidate.box)
        stored = self._commit(read)
        if not stored:
            # Storage is failing (disk full, card error): keep the read for the next attempt, and still
            # alert on a hit - a stolen car on the road does not wait for the SD card.
            with self._lock:
                dropped = len(self._unsaved) == self._unsaved.maxlen
                if dropped:
                    self.stats.unsaved_dropped += 1
                self._unsaved.append(read)
                self.stats.held_reads = len(self._unsaved)
            if dropped and self.stats.unsaved_dropped == 1 or dropped and self.stats.unsaved_dropped % 1000 == 0:
                self.on_event("data_loss", "storage", {"reason": "held reads past the bound while storage failed",
                                                       "dropped": self.stats.unsaved_dropped})
        with self._lock:
            self.stats.reads += 1
            self.stats.hits += 1 if read.hits else 0
            self.stats.stage_ms["record"] += (time.perf_counter() - started) * 1000
        alert = alert_for(read, list(read.hits))
        if alert is not None:
            self.alerter.alert(alert)
        if self.on_read:
            self.on_read(read)
        return read

    def _commit(self, read: Read) -> bool:
        try:
            self.writer.call(lambda conn: save_read(conn, read, self.clock.utc()))
        except Exception as exc:
            self.stats.store_failures += 1
            log.error("read not stored yet", extra={"event": "read.store_failed", "read_id": read.id, "error": str(exc)})
            if not self._storage_failing:
                self._storage_failing = True
                self.on_event("malfunction", "storage", {"reason": str(exc)})
            return False
        if self._storage_failing:
            self._storage_failing = False
            self.on_event("back_in_service", "storage", {})
        self.on_committed()   # wake the uplink: a hit should not wait for the next poll
        log.info("read stored", extra={"event": "read.stored", "read_id": read.id, "camera": read.camera_id,
                                       "confidence": read.confidence, "frames": read.frames,
                                       "position": read.position.method, "hit": bool(read.hits)})
        return True

    def held_count(self) -> int:
        with self._lock:
            return len(self._unsaved)

    def retry_held(self) -> None:
        """Held reads first (their images attach to them), then held images; skipped when another
        thread is already at it."""
        if not self._retrying.acquire(blocking=False):
            return
        try:
            self.retry_unsaved()
            self.flush_held_images()
        finally:
            self._retrying.release()

    def flush_held_images(self) -> int:
        """Write held images, oldest first, while the disk takes them; returns how many still wait."""
        while (image := self.held_images.oldest()) is not None:
            with self._lock:
                if any(r.id == image.read_id for r in self._unsaved):
                    break   # its read is not stored yet
            if not self._disk_ok():
                break
            try:
                write_durably(self.data_dir, image.rel_path, image.jpeg)
                attached = self.writer.call(lambda conn: attach_image(conn, image.read_id, image.role,
                                                                      image.rel_path, self.clock.utc()))
            except OSError as exc:
                self._image_write_failed(exc)
                break
            except Exception:  # noqa: BLE001 - the database refused: the file is there, attach next time
                break
            if not attached:
                (self.data_dir / image.rel_path).unlink(missing_ok=True)   # its read was purged meanwhile
            self.held_images.done(image)
            self._image_writes_failing = False
        self.stats.held_images = len(self.held_images)
        return self.stats.held_images

    def _image_write_failed(self, exc: OSError) -> None:
        if not self._image_writes_failing:
            self._image_writes_failing = True
            self.on_event("malfunction", "disk", {"reason": f"image write failed: {exc}"})

    def _hold_image(self, image: HeldImage) -> None:
        dropped = self.held_images.add(image)
        self.stats.held_images = len(self.held_images)
        if dropped:
            before = self.stats.held_images_dropped
            self.stats.held_images_dropped += dropped
            if before == 0 or before // 100 != self.stats.held_images_dropped // 100:
                self.on_event("data_loss", "disk", {"reason": "held images dropped, oldest first, past the bound",
                                                    "dropped": self.stats.held_images_dropped,
                                                    "bound_mb": round(self.held_images.max_bytes / 2**20, 1)})

    def retry_unsaved(self) -> int:
        """Commit reads held back by a storage failure, oldest first; returns how many are still waiting."""
        while True:
            with self._lock:
                if not self._unsaved:
                    return 0
                read = self._unsaved[0]
            if not self._commit(read):
                with self._lock:
                    return len(self._unsaved)
            with self._lock:
                self._unsaved.popleft()
                self.stats.held_reads = len(self._unsaved)

    def _write_images(self, read: Read, frame: Frame, box) -> Read:
        """Write the read's images now when the disk takes them; otherwise hold them (bounded) and
        commit the read without paths: they attach when written (flush_held_images)."""
        crop_rel, overview_rel = image_paths(read.id, read.captured_at)
        quality = self.storage.jpeg_quality
        images = [("crop", crop_rel, encode_jpeg(crop_with_margin(frame.image, box), quality))]
        if self.storage.store_overview:
            images.append(("overview", overview_rel,
                           encode_jpeg(scaled(frame.image, self.storage.overview_max_width), quality)))
        written: dict[str, str] = {}
        if self._disk_ok() and not len(self.held_images):   # nothing jumps the queue of held images
            for role, rel, data in images:
                try:
                    write_durably(self.data_dir, rel, data)
                except OSError as exc:
                    self._image_write_failed(exc)
                    break
                written[role] = rel
        for role, rel, data in images:
            if role not in written:
                self._hold_image(HeldImage(read.id, role, rel, data))
        return replace(read, crop_path=written.get("crop"), overview_path=written.get("overview"))


def _utc_of(sighting, best_frame: Frame):
    """UTC of a sighting whose frame was released: derived from the best frame and monotonic offsets."""
    from datetime import timedelta

    return best_frame.utc - timedelta(microseconds=(best_frame.mono_ns - sighting.mono_ns) / 1000)


class CameraPipeline:
    """Recognition loop for one camera: its own recogniser instance (interpreters are not thread-safe)."""

    def __init__(self, camera: CameraWorker, recognizer: Recognizer, tracker: ConsensusTracker,
                 recorder: ReadRecorder, clock: Clock):
        self.camera = camera
        self.recognizer = recognizer
        self.tracker = tracker
        self.recorder = recorder
        self.clock = clock
        self.frames = 0
        self.errors = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recognize-{camera.camera_id}", daemon=True)
        self._last_seq = 0
        self._state_reader_off = False   # the reader answered None (recognition.read_state off): no views cut

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop after the camera stopped: drains queued frames, then flushes pending tracks into reads."""
        self._stop.set()
        self._thread.join(timeout)

    def _emit(self, tracks: list[Track]) -> None:
        for track in tracks:
            self._read_state(track)
            try:
                self.recorder.record_track(track, self.camera.camera_id)
            except Exception:
                self.errors += 1
                log.exception("read recording failed", extra={"event": "read.record_error"})

    def _read_state(self, track: Track) -> None:
        """The plate's state, read once per vehicle (recognizer.read_state: ~20-35 ms a view, too dear
        per frame) on the views of its largest sightings (at most consensus.state_views) and voted
        (track_state.read_track_state). A failure costs that view's answer, never the read."""
        read_state = getattr(self.recognizer, "read_state", None)
        if read_state is None or track.best is None or track.best.candidate.state is not None:
            track.take_views()
            return
        result = read_track_state(track, read_state)
        self.errors += result.failed
        self.recorder.stats.state_reads += result.asked
        self.recorder.stats.state_conflicts += result.vote.source == "conflict"
        self._state_reader_off = result.reader_off
        log.debug("state read", extra={"event": "state.read", "views": result.views, "reads": result.asked,
                                       "agreeing": result.vote.agreeing, "source": result.vote.source})

    def _state_view(self, frame: Frame, candidate: PlateCandidate) -> StateView | None:
        try:
            return plate_surroundings(frame.image, candidate.box)
        except Exception:   # a malformed box costs this view, never the frame
            self.errors += 1
            log.exception("state view not cut", extra={"event": "state.view_error"})
            return None

    def _run(self) -> None:
        try:
            while True:
                item = self.camera.queue.get(timeout=0.2)
                if item is None:
                    break
                if item is False:
                    if self._stop.is_set() and not len(self.camera.queue):
                        break
                    self._emit(self.tracker.tick(self._last_seq, self.clock.monotonic_ns()))
                    continue
                frame: Frame = item
                started = time.perf_counter()
                try:
                    candidates = self.recognizer.recognize(frame.image)
                except Exception:
                    self.errors += 1
                    log.exception("recognition failed", extra={"event": "recognize.error", "seq": frame.seq})
                    candidates = []
                elapsed_ms = (time.perf_counter() - started) * 1000
                self.frames += 1
                self.recorder.stats.frames += 1
                self.recorder.stats.stage_ms["recognize"] += elapsed_ms
                self._last_seq = frame.seq
                reads_state = callable(getattr(self.recognizer, "read_state", None)) and not self._state_reader_off
                view_of = self._state_view if reads_state else None
                self._emit(self.tracker.update(frame.seq, frame.mono_ns, candidates, payload=frame, view_of=view_of))
        finally:
            self._emit(self.tracker.flush())
            self.done.set()
