"""Pre-render font glyphs into an .npz atlas the OCR training renders plates with.

Fonts (Debian packages, all permissive): fonts-dejavu (Bitstream Vera licence), fonts-liberation
(SIL OFL 1.1: Liberation Sans Narrow is close to the condensed grotesques many states use),
fonts-roboto-unhinted (Apache-2.0: Roboto Condensed), fonts-noto-core (SIL OFL 1.1). A missing font
is skipped, so the atlas degrades to what is installed rather than failing.

Training runs where Pillow or the fonts may be missing (the GPU box); firmware.synthetic.plate
loads this atlas with load_glyph_atlas() so plates there use the same fonts as here.
With --more-fonts (version 5's atlas) it also draws MORE_FONTS: 34 faces from further Debian packages
(fonts-opendin, fonts-bebas-neue, fonts-routed-gothic, fonts-urw-base35, fonts-texgyre, fonts-paratype,
fonts-b612, fonts-clear-sans, fonts-yanone-kaffeesatz, fonts-freefont-ttf, fonts-open-sans,
fonts-league-spartan, fonts-jura, fonts-oxygen, fonts-cantarell, fonts-lato, fonts-dosis, fonts-mplus;
SIL OFL 1.1, GPL-with-font-exception, Apache-2.0, LPPL/GUST, AGPL-free).
Usage: python models/ocr/make_atlas.py OUT.npz [--more-fonts]   (needs Pillow and the font packages above)
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FONT_DIR = Path("/usr/share/fonts")
FONTS = ["truetype/dejavu/DejaVuSansCondensed-Bold.ttf", "truetype/dejavu/DejaVuSans-Bold.ttf",
         "truetype/dejavu/DejaVuSansMono-Bold.ttf", "truetype/dejavu/DejaVuSansMono.ttf",
         "truetype/dejavu/DejaVuSerifCondensed-Bold.ttf", "truetype/dejavu/DejaVuSansCondensed.ttf",
         "truetype/dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSerif-Bold.ttf",
         "truetype/liberation/LiberationSansNarrow-Bold.ttf", "truetype/liberation/LiberationSansNarrow-Regular.ttf",
         "truetype/liberation/LiberationSans-Bold.ttf", "truetype/liberation/LiberationMono-Bold.ttf",
         "truetype/roboto/unhinted/RobotoCondensed-Bold.ttf", "truetype/roboto/unhinted/RobotoCondensed-Medium.ttf",
         "truetype/roboto/unhinted/RobotoCondensed-Regular.ttf", "truetype/noto/NotoSansDisplay-Bold.ttf",
         "truetype/noto/NotoSans-Bold.ttf", "truetype/noto/NotoSansMono-Bold.ttf"]
# Version 5's wider set: condensed grotesques, DIN, drafting and rounded faces close to what states stamp,
# so the OCR learns characters rather than our few typefaces (licences in models/plate_ocr.md).
MORE_FONTS = ["truetype/opendin/OSP-DIN.ttf", "opentype/bebas-neue/BebasNeue-Bold.otf",
              "opentype/bebas-neue/BebasNeue-Regular.otf", "truetype/routed-gothic/routed-gothic-narrow.ttf",
              "truetype/routed-gothic/routed-gothic.ttf", "opentype/urw-base35/NimbusSansNarrow-Bold.otf",
              "opentype/urw-base35/NimbusSansNarrow-Regular.otf", "opentype/urw-base35/NimbusSans-Bold.otf",
              "opentype/urw-base35/URWGothic-Demi.otf", "/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyreheroscn-bold.otf",
              "/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyreheroscn-regular.otf",
              "truetype/paratype/PTN77F.ttf", "truetype/paratype/PTN57F.ttf", "truetype/paratype/PTS75F.ttf",
              "opentype/b612/B612-Bold.otf", "opentype/b612/B612Mono-Bold.otf", "truetype/clear-sans/ClearSans-Bold.ttf",
              "truetype/clear-sans/ClearSans-Medium.ttf", "opentype/yanone-kaffeesatz/YanoneKaffeesatz-Bold.otf",
              "opentype/yanone-kaffeesatz/YanoneKaffeesatz-Regular.otf", "truetype/freefont/FreeSansBold.ttf",
              "truetype/open-sans/OpenSans-CondBold.ttf", "truetype/open-sans/OpenSans-Bold.ttf",
              "opentype/league-spartan/LeagueSpartan-Bold.otf", "opentype/jura/Jura-Bold.otf",
              "truetype/oxygen/Oxygen-Sans-Bold.ttf", "opentype/cantarell/Cantarell-Bold.otf", "truetype/lato/Lato-Black.ttf",
              "truetype/lato/Lato-Bold.ttf", "opentype/dosis/Dosis-Bold.otf", "opentype/dosis/Dosis-ExtraBold.otf",
              "opentype/mplus/Mplus1-Bold.otf", "opentype/mplus/Mplus2-Bold.otf",
              "opentype/mplus/MplusCodeLatin50-Bold.otf"]


def main(out: str, more: bool = False) -> None:
    arrays = {}
    for name in FONTS + (MORE_FONTS if more else []):
        path = FONT_DIR / name  # an absolute name stays as it is
        if not path.exists():
            print(f"missing, skipped: {path}", file=sys.stderr)
            continue
        font = ImageFont.truetype(str(path), 96)
        for stroke in (0, 2):
            for ch in ALPHABET:
                img = Image.new("L", (200, 200), 0)
                ImageDraw.Draw(img).text((30, 20), ch, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
                a = np.asarray(img)
                ys, xs = np.nonzero(a > 40)
                arrays[f"{Path(name).stem}{'-heavy' if stroke else ''}|{ch}"] = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    np.savez_compressed(out, **arrays)
    print(f"{len(arrays)} glyphs -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], more="--more-fonts" in sys.argv[2:])
