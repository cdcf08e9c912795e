"""The bytes of a hotlist file as text lines, whatever the agency's export tool did to them.

Hotlists come from NCIC extracts, vendor exports and spreadsheets: UTF-8 with or without a BOM,
UTF-16 from Windows tools (with or without a BOM), Latin-1 lines in a UTF-8 file, CRLF, CR-only
(old Mac and some Excel exports), NULs, binary junk and lines megabytes long. Each line must stand
alone: a bad one is reported by its number and never takes its neighbours with it, and whatever
the bytes, nothing here raises. `TextInfo` names what was found (encoding, line endings, unreadable
lines) so the import report can say it.

Lines end at LF, CRLF or a lone CR (Python's universal newlines); they are numbered that way.
A line that cannot be text (a NUL or other control character, or longer than MAX_LINE_CHARS)
comes out as a `BadLine` carrying the reason; the parser turns it into a bad row.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

MAX_LINE_CHARS = 16 * 1024        # far beyond any real row (an NCIC record with every field is < 1 KB)
SNIFF_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")        # after newline normalisation; TAB is a delimiter
_CONTROL_BYTES = bytes(range(0, 9)) + bytes(range(0x0e, 0x20)) + b"\x7f"
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


class BadLine(str):
    """A line that cannot be read as text; `reason` says why (the text itself is dropped)."""

    reason: str

    def __new__(cls, reason: str) -> "BadLine":
        line = super().__new__(cls, "")
        line.reason = reason
        return line


@dataclass
class TextInfo:
    """What the bytes turned out to be, for the import report."""

    codec: str = "utf-8"
    bom: bool = False
    detected: bool = False          # UTF-16/32 found from the byte pattern, without a BOM
    binary: bool = False            # the first block is mostly NUL/control bytes
    lines: int = 0
    latin1_lines: int = 0
    first_latin1_line: int | None = None
    unreadable_lines: int = 0       # control characters or NUL
    overlong_lines: int = 0
    lf: int = 0
    crlf: int = 0
    cr: int = 0

    def encoding(self) -> str:
        name = self.codec + (" (BOM)" if self.bom else " (no BOM, detected from the bytes)" if self.detected else "")
        if self.latin1_lines:
            if self.latin1_lines >= self.lines:
                return "latin-1 (not UTF-8)"
            name += f", {self.latin1_lines} lines not UTF-8 read as latin-1 (first: line {self.first_latin1_line})"
        return name

    def newlines(self) -> str:
        kinds = {k: v for k, v in (("lf", self.lf), ("crlf", self.crlf), ("cr", self.cr)) if v}
        if len(kinds) > 1:
            return "mixed (" + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ")"
        return next(iter(kinds), "none")


def sniff(head: bytes) -> tuple[str, int, bool, bool]:
    """(codec, BOM length, detected without BOM, looks binary) from the first bytes of a file."""
    for bom, codec in _BOMS:
        if head.startswith(bom) and _plausible(head[len(bom):], codec, 0.9):
            return codec, len(bom), False, False
    if len(head) >= 4:
        even, odd = head[0::2], head[1::2]
        even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
        if odd_nul >= 0.9 and even_nul <= 0.1 and _plausible(head, "utf-16-le", 1.0):
            return "utf-16-le", 0, True, False
        if even_nul >= 0.9 and odd_nul <= 0.1 and _plausible(head, "utf-16-be", 1.0):
            return "utf-16-be", 0, True, False
    bom = 3 if head.startswith(codecs.BOM_UTF8) else 0
    control = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return "utf-8", bom, False, bool(head) and control > 0.05 * len(head)


def _plausible(sample: bytes, codec: str, newlines: float) -> bool:
    """Decoded as `codec`, the sample is mostly Latin text, as hotlists are (a stray BOM on binary junk,
    or ASCII read two bytes at a time, which gives CJK characters, is not), and at least `newlines` of
    its LF/CR bytes are line breaks in that encoding (an ASCII line among UTF-16-looking junk is not
    UTF-16: its LF would be swallowed and the line merged with the next)."""
    unit = 4 if "32" in codec else 2
    sample = sample[: len(sample) - len(sample) % unit]
    text = sample.decode(codec, errors="replace")
    if not text:
        return True
    latin = sum(1 for c in text if (c < "\u0250" and c.isprintable()) or c in "\t\r\n")
    breaks = sample.count(b"\n") + sample.count(b"\r")
    return latin >= 0.9 * len(text) and text.count("\n") + text.count("\r") >= newlines * breaks


def text_lines(data: bytes | io.BufferedIOBase, block: int = 1 << 20, info: TextInfo | None = None) -> Iterator[str]:
    """Lines (without newline) of a hotlist file, decoded a block at a time; `info` collects what was found."""
    info = info if info is not None else TextInfo()
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    head = stream.read(max(block, SNIFF_BYTES)) or b""
    info.codec, bom, info.detected, info.binary = sniff(head)
    info.bom = bom > 0
    chunks = _chunks(head[bom:], stream, block)
    if info.codec != "utf-8":
        chunks = _transcoded(chunks, info.codec)
    return _lines(chunks, info)


def _chunks(head: bytes, stream, block: int) -> Iterator[bytes]:
    for start in range(0, len(head), block):
        yield head[start:start + block]
    while True:
        chunk = stream.read(block)
        if not chunk:
            return
        yield chunk


def _transcoded(chunks: Iterable[bytes], codec: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text.encode("utf-8")
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8")


def _lines(chunks: Iterable[bytes], info: TextInfo) -> Iterator[str]:
    rest = b""
    skipping = False                      # inside an overlong line: its bytes are dropped up to its end
    for chunk in chunks:
        buf = rest + chunk if rest else chunk
        hold = b""
        if buf.endswith(b"\r"):          # maybe the first half of a CRLF split between blocks
            buf, hold = buf[:-1], b"\r"
        buf = _normalise(buf, info)
        if skipping:
            cut = buf.find(b"\n")
            if cut < 0:
                rest = hold
                continue
            info.lf += 1
            buf, skipping = buf[cut + 1:], False
        cut = buf.rfind(b"\n")
        if cut >= 0:
            info.lf += buf.count(b"\n", 0, cut + 1)
            yield from _decode(buf[:cut], info)
        rest = buf[cut + 1:]
        if len(rest) > MAX_LINE_CHARS * 4:    # bytes (up to 4 a character): never held in memory whole
            yield _overlong(info)
            rest, skipping = b"", True
        rest += hold
    if rest and not skipping:
        buf = _normalise(rest, info)
        info.lf += buf.count(b"\n")
        yield from _decode(buf[:-1] if buf.endswith(b"\n") else buf, info)


def _normalise(buf: bytes, info: TextInfo) -> bytes:
    """CRLF and lone CR become LF (counted, so the report can name CR-only or mixed files)."""
    if b"\r" not in buf:
        return buf
    crlf = buf.count(b"\r\n")
    cr = buf.count(b"\r") - crlf
    info.crlf += crlf
    info.cr += cr
    info.lf -= crlf + cr                  # the caller counts every LF after normalisation
    return buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _overlong(info: TextInfo) -> BadLine:
    info.lines += 1
    info.overlong_lines += 1
    return BadLine(f"line longer than {MAX_LINE_CHARS} characters (not a hotlist row)")


def _decode(block: bytes, info: TextInfo) -> list[str]:
    """Lines of one block: UTF-8, a line that is not UTF-8 read as Latin-1 (counted); unreadable lines
    become BadLine."""
    try:
        text = block.decode("utf-8")
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines = []
        for n, raw in enumerate(block.split(b"\n"), start=info.lines + 1):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("latin-1"))
                info.latin1_lines += 1
                if info.first_latin1_line is None:
                    info.first_latin1_line = n
        text = "\n".join(lines)
    info.lines += len(lines)
    if len(text) > MAX_LINE_CHARS and max(map(len, lines)) > MAX_LINE_CHARS:
        for i, line in enumerate(lines):
            if len(line) > MAX_LINE_CHARS:
                info.overlong_lines += 1
                lines[i] = BadLine(f"line longer than {MAX_LINE_CHARS} characters (not a hotlist row)")
    if _CONTROL.search(text):
        for i, line in enumerate(lines):
            found = _CONTROL.search(line)
            if found:
                info.unreadable_lines += 1
                char = found.group()
                lines[i] = BadLine("NUL byte in the line (binary data, or UTF-16 text?)" if char == "\x00"
                                   else f"control character 0x{ord(char):02x} in the line")
    return lines
