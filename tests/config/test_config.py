"""Profiles from TOML and the environment, errors that point at the line, secrets masked."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from console.catalogue.model import Catalogue
from console.cli import main
from console.config import (
    ConfigError,
    config_path,
    data_dir,
    load_config,
    resolve_profile,
)

GOOD = """\
default_profile = "staging"
redact_keys = ["x-partner-key"]

[profiles.staging]
base_url = "https://api.staging.example"
token_url = "https://api.staging.example/oauth/token"
client_id = "ops-console"
client_secret_env = "STAGING_SECRET"
scopes = ["customer:read"]
kafka_bootstrap = "k1:9093,k2:9093"
readonly = true

[profiles.staging.kafka]
security_protocol = "SASL_SSL"
sasl_mechanism = "scram-sha-512"
username = "ops"
password_env = "STAGING_KAFKA_PASSWORD"

[profiles.plain]
base_url = "http://localhost:9000"
token_url = "http://localhost:9000/oauth/token"
client_id = "c"
"""


@pytest.fixture
def config_file():
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_paths_follow_xdg_and_the_data_dir_override(tmp_path, monkeypatch):
    assert config_path() == tmp_path / "config" / "apilog" / "config.toml"
    assert data_dir() == tmp_path / "data" / "apilog"
    monkeypatch.setenv("APILOG_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data_dir() == tmp_path / "elsewhere"


def test_no_file_and_no_name_gives_the_embedded_sandbox():
    profile = resolve_profile()
    assert profile.name == "sandbox" and profile.embedded and not profile.connected


def test_profile_from_the_file_with_secrets_from_the_environment(config_file, monkeypatch):
    monkeypatch.setenv("STAGING_SECRET", "very-secret-1")
    monkeypatch.setenv("STAGING_KAFKA_PASSWORD", "kafka-pw-2")
    cfg = load_config()
    assert cfg.redact_keys == ("x-partner-key",)
    profile = resolve_profile(config=cfg)
    assert profile.name == "staging" and profile.readonly and not profile.embedded
    assert profile.client_secret == "very-secret-1" and profile.scopes == ("customer:read",)
    assert "very-secret-1" not in repr(profile) and "kafka-pw-2" not in repr(profile)
    assert "REDACTED" in repr(profile)
    kwargs = profile.kafka_client_kwargs()
    assert kwargs["bootstrap_servers"] == "k1:9093,k2:9093"
    assert (kwargs["security_protocol"], kwargs["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert kwargs["sasl_plain_username"] == "ops" and kwargs["sasl_plain_password"] == "kafka-pw-2"
    assert kwargs["ssl_context"] is not None


def test_missing_kafka_password_is_a_clear_error(config_file):
    with pytest.raises(ConfigError, match="set STAGING_KAFKA_PASSWORD"):
        resolve_profile("staging").kafka_client_kwargs()


def test_environment_overrides(config_file, monkeypatch):
    monkeypatch.setenv("APILOG_PROFILE", "plain")
    monkeypatch.setenv("APILOG_CLIENT_SECRET", "from-env")
    monkeypatch.setenv("APILOG_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    profile = resolve_profile()
    assert profile.name == "plain" and profile.client_secret == "from-env"
    assert profile.kafka_client_kwargs() == {"bootstrap_servers": "127.0.0.1:9092",
                                             "security_protocol": "PLAINTEXT"}
    monkeypatch.setenv("APILOG_BASE_URL", "http://gw:1")
    sandbox = resolve_profile("sandbox")
    assert sandbox.base_url == "http://gw:1" and not sandbox.embedded


def test_scopes_default_to_what_the_catalogue_needs(catalogue):
    profile = resolve_profile("sandbox", catalogue=catalogue)
    assert "customer:write" in profile.scopes and "qos:read" in profile.scopes
    assert resolve_profile("sandbox", catalogue=Catalogue(rows=[])).scopes == ()


@pytest.mark.parametrize(("text", "message"), [
    ('[profiles.a]\nbase_url = "x"\nbase_urll = "y"\n', "line 3: key 'profiles.a.base_urll' is not a known key"),
    ('[profiles.a]\nreadonly = "yes"\n', "line 2: key 'profiles.a.readonly' must be true or false"),
    ('[profiles.a]\nscopes = "customer:read"\n', "line 2: key 'profiles.a.scopes' must be a list of strings"),
    ('[profiles.a]\n[profiles.a.kafka]\nsecurity_protocol = "TLS"\n', "line 3: key 'profiles.a.kafka.security_protocol' is 'TLS'"),
    ('default_profile = "nope"\n', "line 1: key 'default_profile' names 'nope'"),
    ('[profiles.a]\nbase_url = \n', "not valid TOML"),
    ('colour = "red"\n', "line 1: key 'colour' is not a known key"),
    ('[profiles.a]\nevent_buffer = true\n', "line 2: key 'profiles.a.event_buffer' must be a whole number"),
    ('[profiles.a]\nevent_buffer = 5\n', "line 2: key 'profiles.a.event_buffer' is 5; use a number from 100"),
])
def test_bad_file_names_line_and_key(text, message):
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_event_buffer_comes_from_the_profile():
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[profiles.ops]\nbase_url = "http://127.0.0.1:1"\nevent_buffer = 2500\n', encoding="utf-8")
    assert resolve_profile("ops").event_buffer == 2500
    assert resolve_profile("sandbox").event_buffer == 10_000


def test_unknown_profile_lists_the_known_ones(config_file):
    with pytest.raises(ConfigError, match="known profiles: plain, sandbox, staging"):
        resolve_profile("prod")


def test_cli_path_and_show_masks_secrets(config_file, monkeypatch):
    monkeypatch.setenv("STAGING_SECRET", "very-secret-1")
    runner = CliRunner()
    assert runner.invoke(main, ["config", "path"]).output.strip() == str(config_file)
    shown = runner.invoke(main, ["config", "show", "--json"])
    data = json.loads(shown.output)
    assert data["name"] == "staging" and data["client_secret"] == "REDACTED"
    text = runner.invoke(main, ["--profile", "plain", "config", "show"]).output
    assert "name = plain" in text and "very-secret-1" not in text


def test_cli_bad_config_is_one_line(monkeypatch):
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[profiles.a]\nbogus = 1\n")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 1 and "line 2: key 'profiles.a.bogus'" in result.output
    assert "Traceback" not in result.output
