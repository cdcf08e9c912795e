"""Results in the three shapes their readers want: a summary for people, JSON lines for scripts, JUnit
XML for a CI system (skip and xfail as JUnit `skipped`, xpass and fail as `failure`)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

MARK = {"pass": "PASS ", "fail": "FAIL ", "skip": "SKIP ", "xfail": "XFAIL", "xpass": "XPASS", "error": "ERROR"}


def summary_lines(outcomes: list) -> list[str]:
    lines = []
    for o in outcomes:
        lines.append(f"{MARK.get(o.status, o.status):5} {o.name}  ({o.seconds:.0f} s)  [{Path(o.file).name}]")
        for failure in o.failures:
            lines.append(f"      - {failure}")
        if o.status == "skip":
            lines += [f"      skipped: {n}" for n in o.notes]
        if o.status in ("xfail", "xpass") and getattr(o, "expected_to_fail_until", None):
            lines.append(f"      expected to fail until: {o.expected_to_fail_until}")
        if o.work:
            lines.append(f"      kept: {o.work}")
    counts = {k: sum(1 for o in outcomes if o.status == k) for k in MARK}
    lines.append(", ".join(f"{n} {k}" for k, n in counts.items() if n) + f" in {sum(o.seconds for o in outcomes):.0f} s")
    return lines


def json_line(o) -> str:
    return json.dumps({"scenario": o.name, "file": o.file, "status": o.status, "seconds": o.seconds,
                       "failures": o.failures, "notes": o.notes, "figures": o.figures, "work": o.work,
                       "expected_to_fail_until": getattr(o, "expected_to_fail_until", None)}, default=str)


def junit(outcomes: list, path: Path, suite: str = "alpr-hil") -> None:
    root = ET.Element("testsuites")
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(outcomes)),
                         failures=str(sum(1 for o in outcomes if o.status in ("fail", "xpass"))),
                         errors=str(sum(1 for o in outcomes if o.status == "error")),
                         skipped=str(sum(1 for o in outcomes if o.status in ("skip", "xfail"))),
                         time=f"{sum(o.seconds for o in outcomes):.1f}")
    for o in outcomes:
        case = ET.SubElement(node, "testcase", classname=f"hil.{Path(o.file).stem}", name=o.name,
                             time=f"{o.seconds:.1f}")
        if o.status in ("fail", "xpass"):
            message = "unexpectedly passed (expected to fail until a fix lands)" if o.status == "xpass" \
                else (o.failures[0] if o.failures else "failed")
            ET.SubElement(case, "failure", message=message[:500]).text = "\n".join(o.failures)
        elif o.status == "error":
            ET.SubElement(case, "error", message=(o.failures or ["error"])[0][:500]).text = "\n".join(o.failures)
        elif o.status == "skip":
            ET.SubElement(case, "skipped", message="; ".join(o.notes)[:500])
        elif o.status == "xfail":
            ET.SubElement(case, "skipped", type="xfail",
                          message=f"xfail: {getattr(o, 'expected_to_fail_until', '')}"[:500]).text = "\n".join(o.failures)
        if o.notes:
            ET.SubElement(case, "system-out").text = "\n".join(o.notes)
    ET.indent(root)
    Path(path).write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
