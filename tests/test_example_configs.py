"""Every example in config/ loads and builds; the embedded default is config/default.yaml."""

from __future__ import annotations

import pathlib

import pytest
import trustme

from gateway.cli import default_config_text
from gateway.config import load_file
from gateway.pipeline import build
from gateway.telemetry import Telemetry

CONFIG = pathlib.Path(__file__).resolve().parent.parent / "config"
ENV = {
    "GRAFANA_CLOUD_INSTANCE_ID": "123456",
    "GRAFANA_CLOUD_TOKEN": "glc_test",
    "FOGLAMP_KEY": "fl_test",
    "LUMIQ_KEY": "lqt_test",
    "REDACT_HASH_KEY": "k",
    "OPENAI_API_KEY": "sk-test",
}


@pytest.mark.parametrize("path", sorted(CONFIG.glob("*.yaml")), ids=lambda p: p.name)
def test_example_config_is_valid(path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths (./data/...) land in the test's directory
    keys = tmp_path / "keys.yaml"
    keys.write_text("- {key: k1, tenant: team-a}\n")
    cert = trustme.CA().issue_cert("gateway.example")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    text = path.read_text().replace("/etc/gateway/keys/keys.yaml", str(keys))
    text = text.replace("/etc/gateway/tls/", f"{tmp_path}/")
    cfg_path = tmp_path / path.name
    cfg_path.write_text(text)
    build(load_file(str(cfg_path), environ=ENV), Telemetry())


def test_default_example_is_the_embedded_default() -> None:
    assert (CONFIG / "default.yaml").read_text() == default_config_text()
