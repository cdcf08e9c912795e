"""What a vehicle's track keeps of its largest sightings for reading the plate's state.

The state is printed in small letters above and below the serial (~10 px tall on a far plate), so the
unit reads it on a vehicle's few largest sightings rather than on the frame with the surest serial
(capture.CameraPipeline._read_state). Keeping those frames whole would hold megabytes a vehicle; a cut
around the plate, shrunk when the plate is close, holds what the state reader looks at and no more.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# What a track keeps of a sighting for reading the state. The reader cuts its header and footer bands
# from -5 % to 105 % of the box's width and height (recognition/state_reader.py TEXT_BANDS); the margins
# are generous so a loose or tilted box still has its words inside.
VIEW_MARGIN_X = 0.10   # of the box's width, left and right
VIEW_MARGIN_Y = 0.40   # of the box's height, above and below
# A close plate is shrunk until its box fits this (px): the state model reads 48 px tall lines and the
# header band is a third of the box, so it loses nothing it can use, and a view stays under ~0.4 MB.
VIEW_MAX_BOX = (400, 160)


@dataclass(frozen=True)
class StateView:
    """A sighting's plate surroundings, cut from its frame, and the plate's box in them."""

    image: np.ndarray
    box: tuple[int, int, int, int]


def plate_surroundings(image: np.ndarray, box: tuple[int, int, int, int], margin_x: float = VIEW_MARGIN_X,
                       margin_y: float = VIEW_MARGIN_Y, max_box: tuple[int, int] = VIEW_MAX_BOX) -> StateView | None:
    """The box and its margins cut from `image` (clipped to it, copied: the frame can go), the box
    re-expressed in the cut's pixels; shrunk when the box is larger than `max_box`. None for an empty box."""
    x, y, w, h = box
    height, width = image.shape[:2]
    if w <= 0 or h <= 0:
        return None
    x0, y0 = max(0, int(np.floor(x - margin_x * w))), max(0, int(np.floor(y - margin_y * h)))
    x1, y1 = min(width, int(np.ceil(x + w + margin_x * w))), min(height, int(np.ceil(y + h + margin_y * h)))
    if x1 <= x0 or y1 <= y0:
        return None
    crop = image[y0:y1, x0:x1]
    scale = min(1.0, max_box[0] / w, max_box[1] / h)
    if scale >= 1.0:
        return StateView(crop.copy(), (x - x0, y - y0, w, h))
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    sx, sy = size[0] / crop.shape[1], size[1] / crop.shape[0]
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return StateView(small, (round((x - x0) * sx), round((y - y0) * sy), max(1, round(w * sx)), max(1, round(h * sy))))
