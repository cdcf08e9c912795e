import io
import wave
from datetime import datetime, timezone

from firmware.alerts.alerter import Alerter, RecordingSink, alert_for, alert_tone
from firmware.records import Hit, Read


def read_with(hits):
    now = datetime.now(timezone.utc)
    return Read(id="r1", unit_id="u", camera_id="front", plate="ABC123", plate_raw="ABC123", state=None,
                confidence=0.9, char_confidences=(0.9,) * 6, frames=3, box=(1, 2, 3, 4), captured_at=now,
                first_seen_at=now, clock_source="system", frame_seq=1, capture_mono_ns=1, hits=tuple(hits))


def hit(alert="audible", priority=10):
    return Hit("stolen", "ABC123", None, "stolen vehicle", priority, "exact", alert=alert)


def test_silent_hits_are_not_announced():
    assert alert_for(read_with([hit("silent")]), [hit("silent")]) is None


def test_visual_only_hit_is_not_audible():
    alert = alert_for(read_with([hit("visual")]), [hit("visual")])
    assert alert is not None and alert.audible is False


def test_alert_carries_the_verification_notice(tmp_path):
    sink = RecordingSink(tmp_path / "alerts.jsonl")
    Alerter([sink]).alert(alert_for(read_with([hit()]), [hit()]))
    line = (tmp_path / "alerts.jsonl").read_text()
    assert "verify" in line.lower() and '"plate": "ABC123"' in line


class Broken:
    name = "broken"

    def alert(self, alert):
        raise RuntimeError("buzzer on fire")

    def close(self):
        pass


def test_a_broken_sink_does_not_hide_the_alert_elsewhere():
    sink = RecordingSink()
    alerter = Alerter([Broken(), sink])
    alerter.alert(alert_for(read_with([hit()]), [hit()]))
    assert alerter.failures == 1 and len(sink.alerts) == 1


def test_alert_tone_is_a_valid_wav():
    with wave.open(io.BytesIO(alert_tone(0.5))) as w:
        assert w.getnchannels() == 1 and w.getframerate() == 16000
        assert 0.4 < w.getnframes() / w.getframerate() < 2.0
