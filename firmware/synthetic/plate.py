"""Rendered US-style licence plates: the only training data the OCR sees, and the demo's plates.

Real plate photos in the repo's reach are AGPL evaluation data, so everything we learn from is drawn
here: state-like layouts (header text, slogan, border, colours), several fonts, stacked characters,
then the camera's sins are added by the caller (perspective, blur, noise, glare, IR look) via
`degrade`. Fonts: OpenCV's built-in Hershey faces always; DejaVu (Debian fonts-dejavu, permissive
Bitstream Vera licence) through Pillow when both are present; the atlas of make_atlas.py; and, for
OCR training (`extras`), procedural plate typefaces (stroke_font.py). The product never needs Pillow.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .stroke_font import stroke_glyph

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LETTERS = ALPHABET[10:]
DIGITS = ALPHABET[:10]

# L = letter, D = digit, X = either. Roughly the shapes US states issue.
FORMATS = (
    "LLLDDDD", "DLLLDDD", "LLLDDD", "DDDLLL", "LLDDDDD", "DDDDLL", "LLDDDD", "DLLDDD",
    "DDDLLLL", "LLLLDDD", "DDLLDDD", "LDDDLLL", "DDDDDD", "LLLDDDL", "DLDDDD", "XXXXXXX", "XXXXX",
    "LLL DDDD", "DDD DDD", "DDDDDDD",
)

STYLES = ("white", "white_red", "white_blue", "yellow", "blue", "dark", "green", "stacked", "ir")
_STYLE_P = np.array([3, 3, 3, 1, 1, 1, 1, 0.6, 1.5]) / 15.1

STROKE_FONTS = 48  # procedural plate typefaces (stroke_font.py) drawn with `extras`
STROKE_FONT_SHARE = 0.45

_HEADERS = ("CALIFORNIA", "TEXAS", "NEW YORK", "FLORIDA", "OHIO", "ILLINOIS", "GEORGIA", "ARIZONA",
            "NEVADA", "OREGON", "VIRGINIA", "MICHIGAN", "COLORADO", "UTAH", "IOWA", "MAINE", "DELAWARE")
_SLOGANS = ("SUNSHINE STATE", "EMPIRE STATE", "dmv.gov", "LAND OF LINCOLN", "GRAND CANYON STATE",
            "THE LONE STAR STATE", "BIRTHPLACE OF AVIATION", "PEACH STATE", "", "", "")

_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
            cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)
_DEJAVU_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_DEJAVU = ("DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf",
           "DejaVuSansMono.ttf", "DejaVuSerifCondensed-Bold.ttf", "DejaVuSansCondensed.ttf")


def random_plate_text(rng: np.random.Generator) -> str:
    """A plausible US plate string, A-Z0-9 only (spaces in formats only shape the draw)."""
    fmt = FORMATS[int(rng.integers(len(FORMATS)))]
    out = []
    for c in fmt.replace(" ", ""):
        pool = LETTERS if c == "L" else DIGITS if c == "D" else ALPHABET
        ch = pool[int(rng.integers(len(pool)))]
        if ch in "IOQ" and rng.random() < 0.8:  # most states leave these out of serials
            ch = pool[int(rng.integers(len(pool)))]
        out.append(ch)
    return "".join(out)


@lru_cache(maxsize=None)
def available_fonts() -> tuple[str, ...]:
    """Font ids usable here: 'hershey:N' always, 'ttf:/path' when Pillow and DejaVu are installed."""
    fonts = [f"hershey:{f}" for f in _HERSHEY] + [f for f in _ATLAS]
    try:
        import PIL.ImageFont  # noqa: F401
    except ImportError:
        return tuple(fonts)
    for d in _DEJAVU_DIRS:
        for name in _DEJAVU:
            if (d / name).exists():
                fonts.append(f"ttf:{d / name}")
    return tuple(fonts)


_ATLAS: dict[str, dict[str, np.ndarray]] = {}


def register_glyphs(font_id: str, glyphs: dict[str, np.ndarray]) -> None:
    """Add a font given as ink masks per character (e.g. pre-rendered where Pillow is absent)."""
    _ATLAS[font_id] = {c: np.asarray(g, np.float32) for c, g in glyphs.items()}
    available_fonts.cache_clear()
    _glyph.cache_clear()


def load_glyph_atlas(path: Path) -> int:
    """Register every font in an .npz written by models/ocr/make_atlas.py; returns how many."""
    data = np.load(path)
    fonts: dict[str, dict[str, np.ndarray]] = {}
    for key in data.files:  # "<font>|<char>"
        font, ch = key.rsplit("|", 1)
        fonts.setdefault(font, {})[ch] = data[key].astype(np.float32) / 255.0
    for font, glyphs in fonts.items():
        register_glyphs(f"atlas:{font}", glyphs)
    return len(fonts)


@lru_cache(maxsize=8192)
def _glyph(ch: str, font: str, thick: int) -> np.ndarray:
    """Ink mask (float32 0..1) of one character, cropped to its ink."""
    if font.startswith("stroke:"):
        return stroke_glyph(ch, int(font.split(":")[1])) if ch in ALPHABET else np.zeros((10, 5), np.float32)
    if font.startswith("atlas:"):
        g = _ATLAS[font].get(ch)
        if g is None:
            return np.zeros((10, 5), np.float32)
        if thick > 6:  # heavier weight
            g = cv2.dilate(g, np.ones((3, 3), np.uint8))
        return g
    if font.startswith("hershey:"):
        face = int(font.split(":")[1])
        canvas = np.zeros((160, 160), np.uint8)
        cv2.putText(canvas, ch, (20, 120), face, 3.0, 255, thick, cv2.LINE_AA)
    else:
        from PIL import Image, ImageDraw, ImageFont

        pil_font = ImageFont.truetype(font.split(":", 1)[1], 100)
        img = Image.new("L", (160, 160), 0)
        ImageDraw.Draw(img).text((20, 10), ch, fill=255, font=pil_font,
                                 stroke_width=max(0, thick - 3), stroke_fill=255)
        canvas = np.asarray(img)
    ys, xs = np.nonzero(canvas > 40)
    if len(ys) == 0:
        return np.zeros((10, 5), np.float32)
    return canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255.0


def _draw_text(img: np.ndarray, text: str, box: tuple[int, int, int, int], color, font: str,
               thick: int, gap: float = 0.12, shapes: dict[str, str] | None = None) -> None:
    """Draw `text` into box (x, y, w, h) of img as fixed cells, each glyph fitted to its cell height.

    `shapes` draws a character with another's glyph ({"0": "O"}): many plate typefaces give the
    digit and the letter one shape, and the label stays what the state issued.
    """
    x, y, w, h = box
    n = max(1, len(text))
    cell_w = w / (n + (n - 1) * gap)
    col = np.array(color, np.float32)
    for i, ch in enumerate(text):
        if ch == " ":
            continue
        g = _glyph((shapes or {}).get(ch, ch), font, thick)
        gh, gw = g.shape
        widen = 1.25 if gw / gh > 0.35 else 1.0  # bars (I, 1) keep their shape
        tw = int(round(min(cell_w, gw * h / gh * widen)))  # never past the cell
        th = int(h)
        if tw < 1 or th < 1:
            continue
        g = cv2.resize(g, (tw, th), interpolation=cv2.INTER_AREA)
        cx = x + i * cell_w * (1 + gap) + (cell_w - tw) / 2
        x0, y0 = int(round(cx)), int(y)
        x1, y1 = min(img.shape[1], x0 + tw), min(img.shape[0], y0 + th)
        if x1 <= x0 or y1 <= y0 or x0 < 0 or y0 < 0:
            continue
        a = g[: y1 - y0, : x1 - x0, None]
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + col * a


def _palette(style: str, rng: np.random.Generator):
    """(background, characters, header colour, border colour) in BGR."""
    jitter = lambda c: tuple(int(np.clip(v + rng.integers(-25, 26), 0, 255)) for v in c)  # noqa: E731
    table = {
        "white": ((235, 235, 235), (40, 40, 40), (40, 40, 40), (60, 60, 60)),
        "white_red": ((238, 238, 240), (30, 30, 140), (40, 40, 200), (40, 40, 160)),
        "white_blue": ((240, 236, 232), (110, 40, 20), (40, 40, 190), (110, 40, 20)),
        "yellow": ((40, 200, 230), (20, 20, 20), (20, 20, 20), (20, 20, 20)),
        "blue": ((140, 60, 20), (240, 240, 240), (60, 200, 240), (240, 240, 240)),
        "dark": ((30, 30, 30), (230, 230, 230), (60, 200, 240), (200, 200, 200)),
        "green": ((235, 240, 235), (40, 100, 20), (40, 100, 20), (40, 100, 20)),
    }
    key = style if style in table else ("white_blue" if style == "stacked" else "white")
    return tuple(jitter(c) for c in table[key])


def render_plate(text: str, rng: np.random.Generator, style: str | None = None, extras: bool = False) -> np.ndarray:
    """BGR plate image, tight crop (about 2:1). `style` from STYLES or None for a random one.

    'stacked' draws the first two characters stacked vertically at the left, as several states do;
    'ir' gives the grayscale, high-contrast look of an infrared night camera (still 3 channels).
    `extras` (OCR training) adds what real plates carry and the OCR must not read or must read
    through: the digit 0 drawn with the letter O's glyph, bolts, large emblems between
    groups, small text at either edge. Off by default so the demo and detector data stay as they were.
    """
    text = "".join(c for c in text.upper() if c in ALPHABET or c == " ")
    if style is None:
        style = STYLES[int(rng.choice(len(STYLES), p=_STYLE_P))]
    stacked = style == "stacked" and len(text.replace(" ", "")) >= 4
    H = int(rng.integers(110, 150))
    W = int(H * rng.uniform(1.85, 2.15))
    bg, fg, header_col, border_col = _palette(style, rng)
    img = np.empty((H, W, 3), np.float32)
    img[:] = bg
    # a gentle vertical gradient / scenery tint like printed backgrounds
    if rng.random() < 0.5:
        grad = np.linspace(-1, 1, H, dtype=np.float32)[:, None, None] * rng.uniform(5, 30)
        img = np.clip(img + grad * rng.choice([-1, 1]), 0, 255)
    if rng.random() < 0.85:
        t = int(max(2, H * rng.uniform(0.02, 0.05)))
        cv2.rectangle(img, (t // 2, t // 2), (W - 1 - t // 2, H - 1 - t // 2), border_col, t, cv2.LINE_AA)
    fonts = available_fonts()
    font = fonts[int(rng.integers(len(fonts)))]
    small_font = fonts[int(rng.integers(len(fonts)))]
    if extras and rng.random() < STROKE_FONT_SHARE:  # plate-like typefaces for the OCR's training
        font = f"stroke:{int(rng.integers(STROKE_FONTS))}"
    thick = int(rng.integers(4, 9))
    if rng.random() < 0.85:
        header = _HEADERS[int(rng.integers(len(_HEADERS)))]
        hw = W * rng.uniform(0.35, 0.7)
        _draw_text(img, header, (int((W - hw) / 2), int(H * 0.06), int(hw), int(H * rng.uniform(0.1, 0.16))),
                   header_col, small_font, 4, gap=0.05)
    slogan = _SLOGANS[int(rng.integers(len(_SLOGANS)))]
    if slogan and rng.random() < 0.7:
        sw = W * rng.uniform(0.4, 0.75)
        _draw_text(img, slogan.upper(), (int((W - sw) / 2), int(H * 0.83), int(sw), int(H * 0.1)),
                   header_col, small_font, 3, gap=0.04)
    char_h = H * rng.uniform(0.45, 0.56)
    top = H * 0.25 + rng.uniform(-0.03, 0.03) * H
    margin = W * rng.uniform(0.06, 0.12)
    body = text
    if stacked:
        sw = W * 0.09
        st_h = char_h * 0.46
        _draw_text(img, text[0], (int(margin), int(top), int(sw), int(st_h)), fg, font, thick)
        _draw_text(img, text[1], (int(margin), int(top + char_h - st_h), int(sw), int(st_h)), fg, font, thick)
        body = text[2:]
        margin = margin + sw * 1.4
    right = W - W * rng.uniform(0.06, 0.12)
    gap = rng.uniform(0.05, 0.25)
    shapes = _shared_shapes(rng) if extras else None
    if extras:
        _plate_furniture(img, rng, top, char_h, margin, right, header_col, small_font, stacked)
    if len(body) >= 5 and rng.random() < 0.4:  # a dash, dot or emblem between two groups (not a character)
        split = len(body) // 2 if rng.random() < 0.5 else 3
        n = len(body) + 1.2
        unit = (right - margin) / n
        _draw_text(img, body[:split], (int(margin), int(top), int(unit * split), int(char_h)), fg, font, thick, gap,
                   shapes)
        cx, cy = int(margin + unit * (split + 0.6)), int(top + char_h / 2)
        kind = int(rng.integers(4))
        r = max(2, int(min(unit, char_h) * rng.uniform(0.2, 0.45)))
        if extras and rng.random() < 0.5:  # state outlines, hearts, logos: as tall as the characters
            r = max(2, int(char_h * rng.uniform(0.3, 0.55)))
            kind = int(rng.integers(2, 6))
        col = tuple(float(v) for v in (fg if rng.random() < 0.6 else rng.integers(0, 256, 3)))
        if kind == 0:
            cv2.line(img, (cx - r, cy), (cx + r, cy), col, max(2, r // 2))
        elif kind == 1:
            cv2.circle(img, (cx, cy), max(2, r // 2), col, -1, cv2.LINE_AA)
        elif kind == 2:  # keystone / shield
            pts = np.array([[cx - r, cy - r], [cx + r, cy - r], [cx + r // 2, cy + r], [cx - r // 2, cy + r]], np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
        elif kind == 4:  # a state-outline-like blob, outline or filled
            ang = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(6, 12))))
            rad = r * rng.uniform(0.6, 1.0, len(ang))
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
            if rng.random() < 0.5:
                cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
            else:
                cv2.polylines(img, [pts], True, col, max(1, r // 5), cv2.LINE_AA)
        elif kind == 5:  # two-lobed (heart, bird, plane)
            cv2.circle(img, (cx - r // 2, cy - r // 3), max(2, r // 2), col, -1, cv2.LINE_AA)
            cv2.circle(img, (cx + r // 2, cy - r // 3), max(2, r // 2), col, -1, cv2.LINE_AA)
            pts = np.array([[cx - r, cy - r // 4], [cx + r, cy - r // 4], [cx, cy + r]], np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
        else:  # star-ish
            ang = np.linspace(0, 2 * np.pi, 11)[:-1]
            rad = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
            pts = np.stack([cx + rad * np.sin(ang), cy - rad * np.cos(ang)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
        _draw_text(img, body[split:], (int(margin + unit * (split + 1.2)), int(top), int(unit * (len(body) - split)),
                                       int(char_h)), fg, font, thick, gap, shapes)
    else:
        _draw_text(img, body, (int(margin), int(top), int(right - margin), int(char_h)), fg, font, thick, gap, shapes)
    if rng.random() < 0.4:  # registration sticker in a corner: small, not part of the plate number
        sw_, sh_ = int(W * rng.uniform(0.08, 0.14)), int(H * rng.uniform(0.12, 0.2))
        sx = int(rng.choice([W * 0.03, W * 0.97 - sw_]))
        sy = int(rng.choice([H * 0.04, H * 0.96 - sh_]))
        scol = tuple(float(v) for v in rng.integers(0, 256, 3))
        cv2.rectangle(img, (sx, sy), (sx + sw_, sy + sh_), scol, -1)
        _draw_text(img, str(int(rng.integers(10, 99))), (sx + 2, sy + 2, sw_ - 4, sh_ - 4),
                   (20, 20, 20) if sum(scol) > 380 else (235, 235, 235), small_font, 3)
    if rng.random() < 0.15:  # small vertical month text at the right edge (stacked serials sit left)
        word = ("JAN", "MAR", "JUN", "OCT", "DEC", "APR")[int(rng.integers(6))]
        ex = int(W * 0.93)
        for j, ch in enumerate(word[:3]):
            _draw_text(img, ch, (ex, int(top + j * char_h / 3), int(W * 0.045), int(char_h / 3.4)), header_col,
                       small_font, 3)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if style == "ir":
        gray = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        gray = cv2.convertScaleAbs(gray, alpha=rng.uniform(1.2, 1.8), beta=rng.uniform(-60, 0))
        out = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return out


def _shared_shapes(rng: np.random.Generator) -> dict[str, str]:
    """Per plate: whether this typeface draws the digit 0 with the letter O's round shape.

    Many plate typefaces do, and states issue 0 far more than O. (1 and I are not shared: a plain bar
    labelled 1 taught the OCR to read real I's as 1.)
    """
    return {"0": "O"} if rng.random() < 0.35 else {}


def _plate_furniture(img: np.ndarray, rng: np.random.Generator, top: float, char_h: float, left: float,
                     right: float, colour, font: str, stacked: bool) -> None:
    """Things on a real plate that are not its number: bolts, small edge text (county, month, 'WA')."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:  # mounting bolts, usually in the top row between header and characters
        r = max(2, int(h * rng.uniform(0.03, 0.06)))
        y = int(top - r * rng.uniform(0.2, 1.5)) if rng.random() < 0.7 else int(h - top * 0.8)
        shade = tuple(float(v) for v in rng.integers(60, 220, 1).repeat(3))
        for x in (int(w * rng.uniform(0.15, 0.3)), int(w * rng.uniform(0.7, 0.85))):
            cv2.circle(img, (x, max(r, y)), r, shade, -1, cv2.LINE_AA)
    if rng.random() < 0.3:  # small text at an edge, well under the stacked characters' size (those are read)
        side = "right" if stacked or rng.random() < 0.4 else "left"
        vertical = rng.random() < 0.6
        n = 3 if vertical else int(rng.integers(1, 4))
        word = "".join(LETTERS[int(rng.integers(26))] if rng.random() < 0.7 else DIGITS[int(rng.integers(10))]
                       for _ in range(n))
        cw = max(3, int(w * rng.uniform(0.025, 0.04)))
        x = int(left * rng.uniform(0.15, 0.5)) if side == "left" else int(right + (w - right) * rng.uniform(0.2, 0.5))
        for j, ch in enumerate(word):
            if vertical:
                box = (x, int(top + j * char_h / 3), cw, int(char_h / 3.6))
            else:
                box = (x + j * cw, int(top + char_h * rng.uniform(0.1, 0.6)), cw, int(char_h * 0.25))
            _draw_text(img, ch, box, colour, font, 3)


def degrade(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Camera effects on a crop: blur, noise, glare, brightness, JPEG, optional grayscale IR look."""
    out = img.astype(np.float32)
    h, w = out.shape[:2]
    if rng.random() < 0.5 * strength:  # glare: a bright elliptical blob
        mask = np.zeros((h, w), np.float32)
        cv2.ellipse(mask, (int(rng.integers(w)), int(rng.integers(h))),
                    (int(w * rng.uniform(0.1, 0.4)), int(h * rng.uniform(0.1, 0.4))),
                    float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w * 0.05))
        out = out + mask[..., None] * rng.uniform(40, 140) * strength
    out = out * rng.uniform(0.5, 1.3) + rng.uniform(-40, 30)
    if rng.random() < 0.7 * strength:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 2.0) * strength)
    if rng.random() < 0.7 * strength:
        out = out + rng.normal(0, rng.uniform(2, 14) * strength, out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.2 * strength:
        g = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        out = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.6 * strength:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return out
