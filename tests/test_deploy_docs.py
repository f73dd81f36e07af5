"""The container image and the Kubernetes manifests in docs/deploy.md hold what they promise."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import yaml

from gateway.config import load_text

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _manifests() -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "deploy.md").read_text()
    docs: list[dict[str, Any]] = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL):
        docs.extend(d for d in yaml.safe_load_all(block) if d)
    return docs


def _mib(quantity: str) -> int:
    value, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(value) * (1024 if unit == "Gi" else 1)


def _pod(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = next(d for d in _manifests() if d["kind"] == kind)["spec"]["template"]["spec"]
    return spec


def test_image_runs_as_a_numeric_user_without_pip() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    assert "pip uninstall --yes pip setuptools wheel" in dockerfile


def test_sidecar_is_native_and_drains() -> None:
    pod = _pod("Deployment")
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}
    (gateway,) = pod["initContainers"]
    assert gateway["restartPolicy"] == "Always"
    assert gateway["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    config_map = next(d for d in _manifests() if d["kind"] == "ConfigMap")
    cfg = load_text(config_map["data"]["config.yaml"], environ={"SIGIL_TENANT": "t", "SIGIL_TOKEN": "x"})
    limiter = next(c.config for cid, c in cfg.processors.items() if cid.type == "memory_limiter")
    assert limiter.limit_mib < _mib(gateway["resources"]["limits"]["memory"])
    service = cfg.service
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > gateway["lifecycle"]["preStop"]["sleep"]["seconds"] + float(service.shutdown_delay) + float(
        service.shutdown_timeout
    )
    app_env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert app_env == {"SIGIL_PROTOCOL": "http", "SIGIL_ENDPOINT": "http://127.0.0.1:8080"}


def test_fleet_sets_every_variable_and_fits_its_limit() -> None:
    pod = _pod("StatefulSet")
    assert pod["securityContext"]["fsGroup"] == 10001 and pod["securityContext"]["runAsUser"] == 10001
    (gateway,) = pod["containers"]
    names = {e["name"] for e in gateway["env"]}
    edge = (ROOT / "config" / "edge-gateway.yaml").read_text()
    assert set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)", edge)) <= names
    limiter = yaml.safe_load(edge)["processors"]["memory_limiter"]
    assert limiter["limit_mib"] < _mib(gateway["resources"]["limits"]["memory"])
