"""Pre-render DejaVu glyphs (Debian fonts-dejavu, Bitstream Vera licence) into an .npz atlas.

Training runs where Pillow or the fonts may be missing (the GPU box); firmware.synthetic.plate
loads this atlas with load_glyph_atlas() so plates there use the same fonts as here.
Usage: python models/ocr/make_atlas.py OUT.npz   (needs Pillow and fonts-dejavu)
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ["DejaVuSansCondensed-Bold", "DejaVuSans-Bold", "DejaVuSansMono-Bold", "DejaVuSansMono",
         "DejaVuSerifCondensed-Bold", "DejaVuSansCondensed", "DejaVuSans", "DejaVuSerif-Bold"]


def main(out: str) -> None:
    arrays = {}
    for name in FONTS:
        path = FONT_DIR / f"{name}.ttf"
        if not path.exists():
            continue
        font = ImageFont.truetype(str(path), 96)
        for stroke in (0, 2):
            for ch in ALPHABET:
                img = Image.new("L", (200, 200), 0)
                ImageDraw.Draw(img).text((30, 20), ch, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
                a = np.asarray(img)
                ys, xs = np.nonzero(a > 40)
                arrays[f"{name}{'-heavy' if stroke else ''}|{ch}"] = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    np.savez_compressed(out, **arrays)
    print(f"{len(arrays)} glyphs -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
