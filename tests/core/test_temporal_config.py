"""Where and how the engine connects to Temporal: the SDK's profile and environment, with the
engine's own settings on top (no server needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from core.settings import Settings
from core.temporal import DEFAULT_ADDRESS, TemporalConfigError, connect_options, load_profile

PROFILES = """
[profile.default]
address = "default.example:7233"

[profile.cloud]
address = "acme.a1b2c.tmprl.cloud:7233"
namespace = "acme.a1b2c"

[profile.cloud.tls]
client_cert_data = "CERT"
client_key_data = "KEY"
"""


@pytest.fixture(autouse=True)
def no_temporal_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Nothing from the machine's environment or ~/.config/temporalio leaks in."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    config = tmp_path / "temporal.toml"
    config.write_text(PROFILES)
    return config


def test_with_nothing_configured_the_local_default(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    options = connect_options(Settings(), {"TEMPORAL_CONFIG_FILE": str(empty)})
    assert options == {"target_host": DEFAULT_ADDRESS, "namespace": "default"}


def test_an_api_key_turns_tls_on(no_temporal_environment: Path) -> None:
    environ = {
        "TEMPORAL_CONFIG_FILE": str(no_temporal_environment),
        "TEMPORAL_PROFILE": "cloud",
        "TEMPORAL_API_KEY": "secret-key",
    }
    options = connect_options(Settings(), environ)
    assert options["api_key"] == "secret-key"
    assert options["target_host"] == "acme.a1b2c.tmprl.cloud:7233"
    assert options["namespace"] == "acme.a1b2c"
    tls = options["tls"]
    assert isinstance(tls, TLSConfig) and tls.client_cert == b"CERT"


def test_tls_variables_override_the_profile_file(no_temporal_environment: Path) -> None:
    environ = {
        "TEMPORAL_CONFIG_FILE": str(no_temporal_environment),
        "TEMPORAL_PROFILE": "cloud",
        "TEMPORAL_TLS_CLIENT_CERT_DATA": "OTHER-CERT",
        "TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
        "TEMPORAL_GRPC_META_X_TENANT": "a",
    }
    options = load_profile(environ)
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.domain) == (
        b"OTHER-CERT",
        b"KEY",
        "temporal.internal",
    )
    assert options["rpc_metadata"] == {"x-tenant": "a"}


def test_the_engine_settings_win_over_a_profile(no_temporal_environment: Path) -> None:
    environ = {"TEMPORAL_CONFIG_FILE": str(no_temporal_environment), "TEMPORAL_PROFILE": "cloud"}
    # The namespace has a default in Settings: unset, the profile's applies...
    options = connect_options(Settings(temporal_address="10.0.0.9:7233"), environ)
    assert (options["target_host"], options["namespace"]) == ("10.0.0.9:7233", "acme.a1b2c")
    # ... set, the engine's does; the profile's TLS stays.
    options = connect_options(Settings(temporal_namespace="billing"), environ)
    assert (options["target_host"], options["namespace"]) == (
        "acme.a1b2c.tmprl.cloud:7233",
        "billing",
    )
    assert isinstance(options["tls"], TLSConfig)


def test_the_engine_settings_read_the_same_variables(
    monkeypatch: pytest.MonkeyPatch, no_temporal_environment: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(no_temporal_environment))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal-frontend.temporal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "lifecycle")
    options = connect_options(Settings())
    assert (options["target_host"], options["namespace"]) == (
        "temporal-frontend.temporal:7233",
        "lifecycle",
    )
    assert "tls" not in options


def test_a_missing_profile_or_certificate_is_a_clear_error(
    no_temporal_environment: Path, tmp_path: Path
) -> None:
    with pytest.raises(TemporalConfigError, match="nope"):
        load_profile(
            {"TEMPORAL_CONFIG_FILE": str(no_temporal_environment), "TEMPORAL_PROFILE": "nope"}
        )
    missing = tmp_path / "missing.pem"
    with pytest.raises(TemporalConfigError, match=r"missing\.pem"):
        load_profile({"TEMPORAL_TLS_CLIENT_CERT_PATH": str(missing)})
