"""Settings: every one documented in the README, sources in order of strength, bad values
refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.config import SETTING_FIELDS, load_settings
from appliance.errors import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \| `APPLIANCE_", README.read_text(), re.M))
    assert documented == set(SETTING_FIELDS)
    for field in SETTING_FIELDS.values():
        assert field.metadata.get("help"), f"{field.name} has no help text"


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text('port = 9001\nsite_timezone = "Asia/Kolkata"\nlog_level = "debug"\n')
    s = load_settings(str(config), environ={"APPLIANCE_PORT": "9002"},
                      overrides={"data_dir": str(tmp_path)})
    assert (s.port, s.site_timezone, s.log_level) == (9002, "Asia/Kolkata", "DEBUG")
    s = load_settings(None, environ={"APPLIANCE_CONFIG": str(config), "APPLIANCE_PORT": "9002"},
                      overrides={"port": 9003, "data_dir": str(tmp_path)})
    assert s.port == 9003
    assert s.db_url == f"sqlite:///{tmp_path / 'appliance.db'}"


@pytest.mark.parametrize("env, message", [
    ({"APPLIANCE_PORT": "eighty"}, "port"),
    ({"APPLIANCE_PORT": "70000"}, "port"),
    ({"APPLIANCE_SITE_TIMEZONE": "Mars/Base"}, "site_timezone"),
    ({"APPLIANCE_CURRENCY": "rupees"}, "currency"),
    ({"APPLIANCE_UNKNOWN_STATION_POLICY": "maybe"}, "unknown_station_policy"),
    ({"APPLIANCE_TLS_CERT": "/x.pem"}, "tls_key"),
    ({"APPLIANCE_DATABASE_URL": "mysql://x"}, "database_url"),
    ({"APPLIANCE_CALL_TIMEOUT": "45"}, "call_timeout"),
])
def test_bad_values_are_refused_with_a_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ=env)


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(str(config), environ={})
