"""A camera for CameraPipeline tests: hands out a fixed list of frames, then reports it is done.

Reusable by any test module: `from capture_fakes import ListCamera`.
"""

from __future__ import annotations


class FrameList:
    """The part of FrameQueue the pipeline uses: `get` gives the next frame, None once they are used up."""

    def __init__(self, items):
        self.items = list(items)

    def get(self, timeout=None):
        return self.items.pop(0) if self.items else None

    def __len__(self):
        return len(self.items)


class ListCamera:
    camera_id = "front"

    def __init__(self, frames):
        self.queue = FrameList(frames)
