"""Gateways in production speak HTTPS, often under an internal CA: the profile names the CA, and a
certificate it cannot trust fails in one line naming the host and the key to set."""

from __future__ import annotations

import json
import ssl

import httpx2
import pytest
from click.testing import CliRunner

from console.cli import main
from tests.support.profiles import write_config

#: Each test serves a gateway over HTTPS in this process.
pytestmark = pytest.mark.slow




def write_profile(tmp_path, gw, ca_file, *, verify: bool = True) -> None:
    write_config(f"""
[profiles.secure]
base_url = "{gw.base_url}"
token_url = "{gw.token_url}"
client_id = "{gw.client_id}"
client_secret_env = "SECURE_SECRET"

[profiles.secure.tls]
ca_file = "{ca_file}"
verify = {"true" if verify else "false"}
""")


def test_the_gateway_serves_https_that_only_its_ca_opens(tls_gateway):
    gw, files = tls_gateway
    assert gw.base_url.startswith("https://127.0.0.1:")
    trusted = ssl.create_default_context(cafile=str(files.ca))
    assert httpx2.get(f"{gw.base_url}/healthz", verify=trusted).status_code == 200
    with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx2.get(f"{gw.base_url}/healthz")


def test_over_https_a_method_the_parser_does_not_know_is_405_and_the_connection_goes_on(tls_gateway):
    """The gateway hands such a request to h11 on the same (TLS) connection."""
    gw, files = tls_gateway
    with httpx2.Client(base_url=gw.base_url, verify=ssl.create_default_context(cafile=str(files.ca))) as client:
        assert client.get("/healthz").status_code == 200
        refused = client.request("FOO", "/customer/update", params={"action": "check-status"})
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, POST, PUT, PATCH, DELETE"
        assert client.get("/healthz").status_code == 200
        assert client.request("FOO", "/healthz").status_code == 405


def test_a_call_through_the_profiles_ca(tls_gateway, tmp_path, monkeypatch):
    gw, files = tls_gateway
    write_profile(tmp_path, gw, files.ca)
    monkeypatch.setenv("SECURE_SECRET", gw.client_secret)
    result = CliRunner().invoke(main, ["call", "/customer/update", "GET", "check-status",
                                       "--profile", "secure", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == 200


def test_a_wrong_ca_is_one_line_naming_the_host_and_the_key(tls_gateway, tmp_path, monkeypatch):
    gw, files = tls_gateway
    write_profile(tmp_path, gw, files.stranger_ca)
    monkeypatch.setenv("SECURE_SECRET", gw.client_secret)
    result = CliRunner().invoke(main, ["call", "/customer/update", "GET", "check-status",
                                       "--profile", "secure"])
    assert result.exit_code == 1
    wanted = ("TLS: the certificate of 127.0.0.1 is not signed by a CA this profile trusts",
              "set ca_file in [profiles.secure.tls]")
    lines = [line for line in result.output.splitlines() if wanted[0] in line]
    assert len(lines) == 1 and wanted[1] in lines[0], result.output
    assert "Traceback" not in result.output

    check = CliRunner().invoke(main, ["check", "--profile", "secure", "--contract", "oauth2"])
    assert check.exit_code == 1
    assert check.output.count("\n") == 1, check.output
    assert wanted[0] in check.output and wanted[1] in check.output


def test_check_through_the_profiles_ca(tls_gateway, tmp_path, monkeypatch):
    gw, files = tls_gateway
    write_profile(tmp_path, gw, files.ca)
    monkeypatch.setenv("SECURE_SECRET", gw.client_secret)
    result = CliRunner().invoke(main, ["check", "--profile", "secure", "--contract", "oauth2",
                                       "--operation", "/customer/update", "GET", "check-status",
                                       "--json"])
    assert result.exit_code == 0, result.output
    (verdict,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert verdict["verdict"] == "passed"


def test_verification_off_works_only_with_a_loud_warning(tls_gateway, tmp_path, monkeypatch):
    gw, files = tls_gateway
    write_profile(tmp_path, gw, files.stranger_ca, verify=False)
    monkeypatch.setenv("SECURE_SECRET", gw.client_secret)
    result = CliRunner().invoke(main, ["call", "/customer/update", "GET", "check-status",
                                       "--profile", "secure"])
    assert result.exit_code == 0, result.output
    assert "warning: TLS certificates are NOT verified for profile 'secure'" in result.stderr


def test_a_missing_ca_file_names_the_key(tmp_path, monkeypatch):
    from console.config import ConfigError, load_config

    config = tmp_path / "config.toml"
    config.write_text('[profiles.secure]\nbase_url = "https://gw"\n[profiles.secure.tls]\n'
                      'ca_file = "/nowhere/ca.pem"\n')
    profile = load_config(config).profiles["secure"]
    with pytest.raises(ConfigError, match=r"ca_file '/nowhere/ca.pem' in \[profiles.secure.tls\]"):
        profile.http_verify()
