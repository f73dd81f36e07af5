"""Every example in config/ loads and builds; the embedded default is config/default.yaml."""

from __future__ import annotations

import pathlib

import pytest
import trustme
import yaml

from gateway.cli import default_config_text, main
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


@pytest.mark.parametrize("path", sorted(CONFIG.glob("*.yaml")), ids=lambda p: p.name)
def test_batch_metadata_keys_are_kept_by_every_receiver(path: pathlib.Path) -> None:
    """``batch.metadata_keys`` only sees headers a receiver kept (``keep_headers``); a key no
    receiver keeps silently does nothing."""
    raw = yaml.safe_load(path.read_text())
    for name, pipeline in raw["service"]["pipelines"].items():
        for ref in pipeline.get("processors", []):
            if ref.split("/")[0] != "batch":
                continue
            keys = {k.lower() for k in (raw["processors"][ref] or {}).get("metadata_keys", [])}
            for rid in pipeline["receivers"]:
                rc = raw["receivers"][rid] or {}
                kept = {h.lower() for h in rc.get("keep_headers", (rc.get("http") or {}).get("keep_headers", []))}
                assert keys <= kept, f"{name}: {rid} does not keep {sorted(keys - kept)} for {ref}"


@pytest.mark.parametrize("path", sorted(CONFIG.glob("*.yaml")), ids=lambda p: p.name)
def test_example_config_validates_without_the_environment(
    path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What CI can run: no secrets, no mounted files (keys_file is not there)."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    assert main(["validate", "--config", str(path), "--no-environment"]) == 0, capsys.readouterr().err
