"""Alert outputs that cannot fail silently: real gpiozero on its mock pins, a recording ALSA player, and the
Alerter's malfunction reporting; `selftest` fails for a configured buzzer that is not there."""

import json
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest

from conftest import alpr_unit_cmd
from firmware.alerts.alerter import Alerter, RecordingSink, alert_for, build_alerter
from firmware.alerts.outputs import GpioSink, MissingOutput, SoundSink, pattern_for
from firmware.config import AlertsConfig
from firmware.records import Hit, Read

gpiozero = pytest.importorskip("gpiozero")
from gpiozero.pins.mock import MockFactory  # noqa: E402


def alert(priority=50, kind="audible"):
    now = datetime.now(timezone.utc)
    hit = Hit("stolen", "ABC123", None, "stolen vehicle", priority, "exact", alert=kind)
    read = Read(id="r1", unit_id="u", camera_id="front", plate="ABC123", plate_raw="ABC123", state=None,
                confidence=0.9, char_confidences=(0.9,) * 6, frames=3, box=(1, 2, 3, 4), captured_at=now,
                first_seen_at=now, clock_source="system", frame_seq=1, capture_mono_ns=1, hits=(hit,))
    return alert_for(read, [hit])


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def rises(pin) -> int:
    states = [s.state for s in pin.states]
    return sum(1 for a, b in zip(states, states[1:]) if not a and b)


@pytest.mark.parametrize("priority, kind, beeps, flashes", [
    (0, "audible", 6, 30), (50, "audible", 3, 10), (50, "visual", 0, 10), (20, "visual", 0, 30)])
def test_gpio_pattern_follows_priority_and_audibility(priority, kind, beeps, flashes):
    factory = MockFactory()
    sink = GpioSink(17, 27, high_priority_max=20, pin_factory=factory)
    sink.alert(alert(priority, kind))
    buzzer, led = factory.pin(17), factory.pin(27)
    assert wait_until(lambda: rises(led) == flashes and rises(buzzer) == beeps, timeout=60), (rises(led), rises(buzzer))
    assert sink.check() is None
    sink.close()
    assert sink.check() is not None


def test_a_missing_buzzer_is_a_malfunction_from_the_first_second(tmp_path):
    events = []
    alerter = build_alerter(AlertsConfig(sinks=["gpio", "log"]), tmp_path, on_event=lambda *e: events.append(e))
    gpio = alerter.sinks[0]
    assert isinstance(gpio, MissingOutput) and "pin factory" in gpio.problem.lower()
    assert events == [("malfunction", "alert:gpio", {"reason": "alert_output_failed", "problem": gpio.problem})]
    outputs = {o["sink"]: o for o in alerter.status()["outputs"]}
    assert outputs["gpio"]["ok"] is False and outputs["log"]["ok"] is True
    alerter.alert(alert())
    assert alerter.failures == 1 and len(events) == 1   # reported once, not once per hit


class Player:
    """Records aplay command lines; `fail` makes playback fail the way a vanished USB sound card does."""

    def __init__(self, listing="null\n    Discard\ndefault\n    Default ALSA Output\n"):
        self.calls, self.fail, self.listing = [], False, listing
        self.played = threading.Event()

    def __call__(self, args, timeout):
        self.calls.append(args)
        if args[1] == "-L":
            return subprocess.CompletedProcess(args, 0, self.listing, "")
        self.played.set()
        if self.fail:
            return subprocess.CompletedProcess(args, 1, "", "aplay: main:831: audio open error: No such device")
        return subprocess.CompletedProcess(args, 0, "", "")


def test_sound_plays_the_urgent_tone_and_reports_a_failed_playback_once(tmp_path):
    player = Player()
    events = []
    alerter = Alerter([], on_event=lambda *e: events.append(e))
    sink = SoundSink(tmp_path, "default", 0.5, high_priority_max=20, player=player,
                     on_failure=lambda p: alerter.sink_failed("sound", p))
    alerter.sinks.append(sink)
    alerter.alert(alert(priority=5))
    assert player.played.wait(60) and player.calls[-1][-1].endswith("alert-urgent.wav")
    alerter.alert(alert(priority=5, kind="visual"))     # a visual-only list never sounds
    player.fail, player.played = True, threading.Event()
    alerter.alert(alert(priority=60))
    assert player.played.wait(60) and player.calls[-1][-1].endswith("alert-normal.wav")
    assert wait_until(lambda: events)
    assert events[0][:2] == ("malfunction", "alert:sound") and "No such device" in events[0][2]["problem"]
    assert sink.check() is not None
    assert len([c for c in player.calls if c[1] == "-q"]) == 2


def test_sound_device_that_alsa_does_not_know_refuses_to_open(tmp_path):
    with pytest.raises(RuntimeError, match="not found"):
        SoundSink(tmp_path, "hw:CARD=Nope", 0.5, player=Player())


def test_pattern_boundary():
    assert pattern_for(alert(20), 20) == "urgent" and pattern_for(alert(21), 20) == "normal"


def test_an_output_that_recovers_is_back_in_service():
    events = []

    class Flaky:
        name, broken = "flaky", True

        def alert(self, a):
            if self.broken:
                raise OSError("bus error")

        def close(self):
            pass

    flaky = Flaky()
    alerter = Alerter([flaky, RecordingSink()], on_event=lambda *e: events.append(e[:2]))
    alerter.alert(alert())
    flaky.broken = False
    alerter.alert(alert())
    assert events == [("malfunction", "alert:flaky"), ("back_in_service", "alert:flaky")]


def test_selftest_fails_for_a_configured_buzzer_that_is_missing(tmp_path):
    config = tmp_path / "unit.toml"
    config.write_text(f'[unit]\ndata_dir = "{tmp_path / "data"}"\n[alerts]\nsinks = ["log", "gpio"]\n')
    result = subprocess.run([*alpr_unit_cmd(), "selftest", "--config", str(config), "--json", "--gps-timeout", "0.1"],
                            capture_output=True, text=True, timeout=120)
    checks = {c["check"]: c for c in map(json.loads, result.stdout.splitlines()) if "check" in c}
    assert result.returncode == 1
    assert checks["alert:gpio"]["ok"] is False and checks["alert:log"]["ok"] is True
