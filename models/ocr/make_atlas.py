"""Pre-render font glyphs into an .npz atlas the OCR training renders plates with.

Fonts (Debian packages, all permissive): fonts-dejavu (Bitstream Vera licence), fonts-liberation
(SIL OFL 1.1: Liberation Sans Narrow is close to the condensed grotesques many states use),
fonts-roboto-unhinted (Apache-2.0: Roboto Condensed), fonts-noto-core (SIL OFL 1.1). A missing font
is skipped, so the atlas degrades to what is installed rather than failing.

Training runs where Pillow or the fonts may be missing (the GPU box); firmware.synthetic.plate
loads this atlas with load_glyph_atlas() so plates there use the same fonts as here.
Usage: python models/ocr/make_atlas.py OUT.npz   (needs Pillow and the font packages above)
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS = ["dejavu/DejaVuSansCondensed-Bold", "dejavu/DejaVuSans-Bold", "dejavu/DejaVuSansMono-Bold",
         "dejavu/DejaVuSansMono", "dejavu/DejaVuSerifCondensed-Bold", "dejavu/DejaVuSansCondensed",
         "dejavu/DejaVuSans", "dejavu/DejaVuSerif-Bold",
         "liberation/LiberationSansNarrow-Bold", "liberation/LiberationSansNarrow-Regular",
         "liberation/LiberationSans-Bold", "liberation/LiberationMono-Bold",
         "roboto/unhinted/RobotoCondensed-Bold", "roboto/unhinted/RobotoCondensed-Medium",
         "roboto/unhinted/RobotoCondensed-Regular", "noto/NotoSansDisplay-Bold", "noto/NotoSans-Bold",
         "noto/NotoSansMono-Bold"]


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
                arrays[f"{Path(name).name}{'-heavy' if stroke else ''}|{ch}"] = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    np.savez_compressed(out, **arrays)
    print(f"{len(arrays)} glyphs -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
