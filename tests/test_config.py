import subprocess
from pathlib import Path

import pytest

from conftest import REPO, alpr_unit_cmd
from firmware.config import ConfigError, UnitConfig, key_lines, load_config, parse_config


def problems(text: str) -> list:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "unit.toml")
    return info.value.problems


def test_defaults_are_valid_and_local_only():
    config = UnitConfig()
    assert config.sync.host == ""            # nothing leaves the unit unless configured
    assert config.retention.local_retention_days <= 90


@pytest.mark.parametrize("path", sorted((REPO / "device" / "config").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_validate(path: Path):
    load_config(path)
    result = subprocess.run([*alpr_unit_cmd(), "config", "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_key_is_named_with_its_line():
    found = problems('[unit]\nid = "a"\n\n[gps]\nsource = "none"\nbuad = 9600\n')
    assert [(p.line, p.key) for p in found] == [(6, "gps.buad")]
    assert "unknown key" in found[0].message


def test_out_of_bounds_value_in_second_camera_points_at_its_line():
    text = '[[cameras]]\nid = "front"\nkind = "folder"\n\n[[cameras]]\nid = "rear"\nkind = "folder"\nfps = 0\n'
    found = problems(text)
    assert [(p.line, p.key) for p in found] == [(8, "cameras.1.fps")]


def test_missing_required_key_points_at_its_table():
    found = problems('[unit]\nid = "a"\n\n[[cameras]]\nkind = "folder"\n')
    assert found[0].key == "cameras.0.id" and found[0].line == 4


def test_retention_beyond_the_legal_ceiling_is_refused():
    found = problems("[retention]\nlocal_retention_days = 120\n")
    assert found[0].key == "retention.local_retention_days" and found[0].line == 2


def test_duplicate_camera_ids_refused():
    found = problems('[[cameras]]\nid = "a"\nkind = "folder"\n[[cameras]]\nid = "a"\nkind = "folder"\n')
    assert "unique" in found[0].message


def test_syntax_error_reports_line():
    found = problems('[unit]\nid = "a"\nmin_free_mb = = 3\n')
    assert found[0].line == 3 and found[0].key == "(syntax)"


def test_key_lines_handles_arrays_and_dotted_keys():
    lines = key_lines('[unit]\nid = "x"\n[[cameras]]\nid = "a"\n[[cameras]]\nid = "b"\n[gps]\nsource = "none" # c\n')
    assert lines[("unit", "id")] == 2
    assert lines[("cameras", 1, "id")] == 6
    assert lines[("gps", "source")] == 8


def test_validate_command_exits_nonzero_and_names_file_and_line(tmp_path):
    bad = tmp_path / "unit.toml"
    bad.write_text('[unit]\nid = "car 1"\n[storage]\njpeg_quality = 101\n')
    result = subprocess.run([*alpr_unit_cmd(), "config", "validate", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{bad}:2: unit.id" in result.stderr
    assert f"{bad}:4: storage.jpeg_quality" in result.stderr


def test_every_field_has_a_description():
    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            assert field.description, f"{prefix}{name} has no description"
            annotation = field.annotation
            sub = getattr(annotation, "model_fields", None)
            if sub is not None:
                walk(annotation, f"{prefix}{name}.")
    walk(UnitConfig)
    from firmware.config import CameraConfig
    walk(CameraConfig, "cameras.")


def test_data_dir_override(tmp_path):
    config = load_config(None, data_dir=tmp_path)
    assert config.unit.data_dir == tmp_path
