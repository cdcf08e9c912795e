"""Recognition settings: which models, how many threads, how strict."""

from pathlib import Path

from pydantic import Field, field_validator

from firmware.configbase import Section


class RecognitionConfig(Section):
    model_dir: Path | None = Field(
        None, description="Folder holding manifest.json and the .tflite files; default: the bundled models/"
    )
    threads: int = Field(1, ge=1, le=8, description="Interpreter threads per model")
    use_xnnpack: bool = Field(True, description="Use the XNNPACK delegate when the runtime offers it")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Plate candidates below this are discarded")
    format_hints: bool = Field(
        True, description="Apply US plate-format knowledge as soft hints (never as a hard filter)"
    )
    crop_pad_x: float = Field(
        0.12, ge=0.0, le=0.4,
        description="Margin added at the left and right of each detected plate before OCR, as a fraction of its width"
    )
    crop_pad_y: float = Field(
        0.05, ge=0.0, le=0.4,
        description="Margin added above and below each detected plate before OCR, as a fraction of its height"
    )
    min_chars: int = Field(2, ge=1, le=10, description="Reads shorter than this are dropped (not plates)")
    max_chars: int = Field(10, ge=2, le=16, description="Reads longer than this are dropped (not plates)")
    min_detector_score: float = Field(
        0.4, ge=0.0, le=1.0,
        description="Detections scored below this are not read; raise it (0.6) to trade a few reads for speed"
    )
    max_upscale: float = Field(
        1.0, ge=0.0, le=8.0,
        description="The detector never scales a frame up by more than this (0: small frames are blown up to fill "
                    "its input). It learnt plates up to ~220 px wide on its input; a close-up in a small frame blown "
                    "up past that is found in pieces. Camera frames (720p and up) are scaled down and never affected"
    )
    max_plates: int = Field(8, ge=1, le=64, description="At most this many plates are read per frame (best first)")
    early_stop: bool = Field(
        True,
        description="Read detections best first and, once a frame has a confident plate-shaped read, skip the "
                    "remaining ones scored below read_all_above (OCR is ~12.5 ms a crop; most extra crops are false)"
    )
    read_all_above: float = Field(
        0.9, ge=0.0, le=1.0,
        description="With early_stop, detections scored at least this are still read (a second plate in the frame)"
    )
    early_stop_min_chars: int = Field(
        5, ge=1, le=16,
        description="With early_stop, only a kept read of at least this many characters (plate-shaped) stops the search"
    )
    second_look_below: float = Field(
        0.5, ge=0.0, le=1.0,
        description="A crop read with less confidence than this is read again cut differently (axis-aligned box, "
                    "tighter and looser margins) and the most confident read is kept; 0 switches it off. At 0.5 "
                    "about a quarter of frames take a second look, so the median frame costs nothing extra"
    )
    second_look_pads: list[float] = Field(
        [0.03, 0.22], min_length=0, max_length=4,
        description="Left/right margins (fraction of plate width) of the extra crops read by the second look"
    )
    second_look_min_chars: int = Field(
        4, ge=1, le=16,
        description="Only a first read of at least this many characters gets a second look (a tail light or "
                    "badge reads short or empty: looking again at it only costs time)"
    )
    second_look_max_per_frame: int = Field(
        2, ge=0, le=16, description="At most this many detections per frame get a second look (bounds the worst frame)"
    )
    wide_look_max_chars: int = Field(
        5, ge=0, le=16,
        description="A read this short (but at least second_look_min_chars long) is read again from a crop with "
                    "wide_look_pad margins, and the wider read replaces it only when it contains it whole and is "
                    "longer: the detector sometimes marks only part of a plate ('ZRULZ' for FZRULZ), and such a "
                    "clipped read is confident. Most US serials have 6-7 characters, so the median frame costs "
                    "nothing extra; 0 switches it off. Counts against second_look_max_per_frame"
    )
    wide_look_pad: float = Field(
        0.35, ge=0.0, le=1.0,
        description="Left/right margin (fraction of the detected width) of the wide look's crop"
    )
    zoom_below: float = Field(
        0.7, ge=0.0, le=1.0,
        description="A detection scored below this is looked at again by the detector in a window around it, "
                    "scaled so the plate is zoom_plate_width px wide (far plates come out clipped at full-frame "
                    "scale); 0 switches it off. Needs the manifest's detector_zoom model"
    )
    zoom_plate_width: float = Field(
        128.0, ge=32.0, le=400.0,
        description="Width in zoom-model pixels a weak detection is scaled to for its second detector look"
    )
    zoom_out_above: float = Field(
        120.0, ge=0.0, le=960.0,
        description="A detection wider than this on the detector's input (px of its 544x960 view) is looked at again "
                    "by the zoom model in a window where it is zoom_out_plate_width px wide: the detector learnt plates "
                    "up to ~220 px and marks only the middle of closer ones, so their first and last characters are "
                    "cut off; 0 switches it off. Counts against zoom_max_per_frame"
    )
    zoom_out_plate_width: float = Field(
        80.0, ge=32.0, le=400.0,
        description="Width in zoom-model pixels a large detection is scaled to for its zoomed-out look (its quad is "
                    "often ~0.6 of the plate, so the whole plate lands near the zoom model's ~128 px)"
    )
    zoom_max_per_frame: int = Field(
        8, ge=0, le=64,
        description="At most this many looks of the zoom model per frame, closer or zoomed out (~3-4 ms each on the dev VM). "
                    "The default follows max_plates: a far plate is often not the first weak box of its frame "
                    "(on the 140 real photos one frame took 6 looks, and a bound of 3 lost one read); lower it on a slow unit"
    )
    second_reader: bool = Field(
        True,
        description="Ask the second plate reader (fast-plate-ocr CCT-XS, manifest 'ocr_cct', trained on real plates) "
                    "where our OCR is unsure, and combine the two per character (combine.py); needs the model in "
                    "the manifest, else the unit reads with one reader and logs it"
    )
    second_reader_below: float = Field(
        1.0, ge=0.0, le=1.0,
        description="The second reader is asked when the first read's least sure character is below this, when the "
                    "read fits no US serial format, or when it is empty (~1.5 ms an ask on the dev VM); 0 asks only "
                    "for empty or format-less reads; 1 (the default since session 9) asks on every read but one whose "
                    "every character is certain to float precision: asking costs less than the reads it gains"
    )
    second_reader_doubts: list[str] = Field(
        ["MW"], max_length=16,
        description="Our OCR's known slips on real plates, each 'XY' (it reads X where the plate shows Y): where it "
                    "reads X, Y is made as likely in its row before the two readers are combined, so the second "
                    "reader decides between them (combine.doubt_first). 'MW': W read as M is the largest kind of "
                    "miss reported on real photos; [] combines the readers as they read"
    )
    read_state: bool = Field(
        True,
        description="Read the plate's state (USPS code) from the words it prints above and below the serial "
                    "(state name or slogan, manifest 'state_text' model), once per vehicle on its largest sightings "
                    "(consensus.state_views); "
                    "null when not legible, never guessed from the serial or the car (~26 ms a view on the "
                    "dev VM). On the 140 dev photos no read carried a wrong state (docs/perf/recognition.md)"
    )
    state_design_cue: bool = Field(
        False,
        description="Also let the colours decide California (red header, navy serial, nothing red below). Off: "
                    "on real photos thin header print keeps too little colour to tell, and Washington's older "
                    "plate shares the colours"
    )
    state_spot_floor: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Also look for each state's words in the text model's column probabilities (state_spotting.py), "
                    "counting a word whose per-character likelihood ratio to the best path is at least this; "
                    "0 switches it off (then only the read text's similarity counts). 0.5: the lowest floor that "
                    "gave no more wrong states than similarity alone on rendered plates (models/state/spotting_check.py)"
    )

    @field_validator("second_reader_doubts")
    @classmethod
    def _doubts_are_character_pairs(cls, doubts: list[str]) -> list[str]:
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        for d in doubts:
            if len(d) != 2 or d[0] == d[1] or any(c not in alphabet for c in d):
                raise ValueError(f"{d!r}: each doubt is two different characters of 0-9A-Z, "
                                 "'XY' = our OCR reads X where the plate shows Y")
        return doubts
