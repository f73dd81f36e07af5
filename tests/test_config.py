"""Config loading: env expansion, units, typed decoding, and exact messages for every mistake."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import yaml

from gateway.cli import default_config_text, main
from gateway.component import ComponentId
from gateway.config import expand_env, load_file, load_text
from gateway.errors import ConfigError
from gateway.exporters.sigil import SigilExporterConfig
from gateway.pipeline import build
from gateway.telemetry import Telemetry
from gateway.units import Duration, parse_duration, parse_size

DATA = pathlib.Path(__file__).parent / "testdata" / "config"
ROOT = pathlib.Path(__file__).parent.parent

EXPECTED_PROBLEMS: dict[str, list[str]] = {
    "unknown_key": ['exporters::sigil::protcol: unknown key (did you mean "protocol"?)'],
    "bad_enum": ["exporters::sigil::protocol: must be one of grpc, http"],
    "dangling_reference": [
        'service::pipelines::p::receivers::1: "foglamp/edge" is not defined under receivers',
        'service::pipelines::p::exporters::1: "sigil/cloud" is not defined under exporters',
    ],
    "wrong_types": [
        "receivers::sigil::require_tenant: expected true or false, got the string 'yes'",
        "receivers::sigil::http::max_body_bytes: invalid size 'lots': expected bytes or a number "
        "with a unit, like 4MiB",
        "exporters::sigil::timeout: expected a duration with a unit, like 5s or 200ms, got an integer",
        "exporters::sigil::sending_queue::queue_size: expected an integer, got the string 'many'",
    ],
    "empty_pipeline": [
        "service::pipelines::p::receivers: a pipeline needs at least one receiver",
        "service::pipelines::p::exporters: a pipeline needs at least one exporter",
    ],
    "unknown_component_type": [
        'receivers::kafka: unknown receiver type "kafka" (known: foglamp, lumiqtrace, nats, otlp, sigil)',
    ],
    "basic_auth_without_password": [
        "exporters::sigil::auth: generation export auth mode 'basic' requires basic_password",
        "exporters::sigil::auth: generation export auth mode 'basic' requires basic_user or tenant_id",
    ],
    "shared_route_conflict": [
        "receivers::sigil/b: sigil/b and sigil/a both claim * /api/v1/generations:export on endpoint 127.0.0.1:18080",
    ],
    "bad_duration": [
        "service::shutdown_timeout: invalid duration '10 seconds': expected a number with a unit, like 200ms, 5s or 1m",
    ],
    "missing_service": ["service: is required"],
    "evaluate_llm_judge_unknown_provider": [
        "processors::evaluate::evaluators::0::config::provider: judge provider 'openai' is not defined under "
        "judges.providers (defined: none)",
    ],
    "batch_before_persistent_queue": [
        "service::pipelines::p::processors::0: batch would acknowledge records before they are on disk in the "
        "persistent queue of sigil; set its acknowledge: export (the default) or remove it"
    ],
}


def _problems(path: pathlib.Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build(load_file(str(path), environ={}), Telemetry())
    return info.value.problems


@pytest.mark.parametrize("name", sorted(EXPECTED_PROBLEMS))
def test_invalid_fixture_reports_exact_problems(name: str) -> None:
    assert _problems(DATA / "invalid" / f"{name}.yaml") == EXPECTED_PROBLEMS[name]


def test_every_invalid_fixture_has_expectations() -> None:
    assert {p.stem for p in (DATA / "invalid").glob("*.yaml")} == set(EXPECTED_PROBLEMS)


def test_valid_fixture_expands_env_and_units() -> None:
    env = {"SIGIL_TENANT": "12345", "SIGIL_TOKEN": "glc_x$y", "SIGIL_HTTP_PORT": ""}
    cfg = load_file(str(DATA / "valid" / "sigil_to_sigil.yaml"), environ=env)
    exp = cfg.exporters[ComponentId("sigil", "cloud")].config
    assert isinstance(exp, SigilExporterConfig)
    assert exp.auth.tenant_id == "12345"
    assert exp.auth.basic_password == "glc_x$y"
    assert exp.timeout == pytest.approx(2.5)
    assert float(exp.retry_on_failure.max_elapsed_time) == 300.0
    assert exp.sending_queue.queue_size == 500
    assert float(cfg.service.shutdown_timeout) == 15.0
    receiver = cfg.receivers[ComponentId("sigil")].config
    assert receiver.http.endpoint == "127.0.0.1:8080"  # empty var with :- takes the default


def test_env_expansion_rules() -> None:
    env = {"A": "x", "PORT": "9000", "EMPTY": ""}
    assert expand_env("${env:A}-${A}", env) == "x-x"
    assert expand_env("${env:MISSING:-dflt}", env) == "dflt"
    assert expand_env("${env:EMPTY:-dflt}", env) == "dflt"
    assert expand_env("${env:MISSING}", env) == ""
    assert expand_env("price: $$5", env) == "price: $5"
    with pytest.raises(ValueError, match="invalid reference"):
        expand_env("${env:1bad}", env)


def test_env_reference_takes_the_field_type() -> None:
    text = """
receivers:
  sigil: {require_tenant: "${env:REQ}", http: {endpoint: "127.0.0.1:1", max_body_bytes: "${env:MAX}"}}
exporters:
  sigil: {endpoint: http://h:1, sending_queue: {queue_size: "${env:Q}"}}
service:
  pipelines: {p: {receivers: [sigil], exporters: [sigil]}}
"""
    cfg = load_text(text, environ={"REQ": "true", "MAX": "2MiB", "Q": "7"})
    assert cfg.receivers[ComponentId("sigil")].config.require_tenant is True
    assert cfg.receivers[ComponentId("sigil")].config.http.max_body_bytes == 2 * 1024 * 1024
    assert cfg.exporters[ComponentId("sigil")].config.sending_queue.queue_size == 7


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("200ms", 0.2), ("5s", 5.0), ("1m30s", 90.0), ("1h", 3600.0), ("0", 0.0), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert isinstance(Duration(parse_duration(text)), float)


@pytest.mark.parametrize("text", ["5", "5 s", "s", "", "-1s", "1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [("4MiB", 4 * 1024**2), ("10MB", 10_000_000), ("512", 512), ("1KiB", 1024)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_all_problems_reported_at_once() -> None:
    text = """
receivers: {sigil: {bogus: 1}}
exporters: {sigil: {protocol: x}}
service: {pipelines: {p: {receivers: [sigil], exporters: [nope]}}, extra: 1}
"""
    with pytest.raises(ConfigError) as info:
        load_text(text, environ={})
    assert info.value.problems == [
        "receivers::sigil::bogus: unknown key "
        "(valid keys: http, grpc, require_tenant, fake_tenant, ratings, eval_api, auth)",
        "exporters::sigil::protocol: must be one of grpc, http",
        "exporters::sigil::endpoint: is required",
        "service::extra: unknown key (valid keys: pipelines, telemetry, health, shutdown_timeout, shutdown_delay, "
        "workers)",
    ]


def test_embedded_default_is_valid() -> None:
    build(load_text(default_config_text()), Telemetry())


def test_validate_command_exit_codes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGIL_TENANT", "12345")
    monkeypatch.setenv("SIGIL_TOKEN", "glc_token")
    assert main(["validate", "--config", str(DATA / "invalid" / "bad_enum.yaml")]) == 1
    err = capsys.readouterr().err
    assert "exporters::sigil::protocol: must be one of grpc, http" in err
    assert main(["validate", "--config", str(DATA / "valid" / "sigil_to_sigil.yaml")]) == 0


def test_python_dash_m_gateway_validate() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--config", str(DATA / "invalid" / "unknown_key.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 1
    assert 'exporters::sigil::protcol: unknown key (did you mean "protocol"?)' in out.stderr


def test_a_receiver_opens_only_the_transports_it_lists() -> None:
    def listeners(receivers: dict[str, object]) -> tuple[set[str], set[str]]:
        cfg = load_text(
            yaml.safe_dump(
                {
                    "receivers": receivers,
                    "exporters": {"debug": {}},
                    "service": {"pipelines": {"p": {"receivers": list(receivers), "exporters": ["debug"]}}},
                }
            )
        )
        graph = build(cfg, Telemetry())
        return set(graph.listeners.http), set(graph.listeners.grpc)

    # As in the Collector: a transport left out is off; an empty one is on at its default port.
    assert listeners({"otlp": {"grpc": {"endpoint": "127.0.0.1:14317"}}}) == (set(), {"127.0.0.1:14317"})
    assert listeners({"otlp": {"http": {}}}) == ({"127.0.0.1:4318"}, set())
    assert listeners({"sigil": {"grpc": {}}}) == (set(), {"127.0.0.1:4317"})
    assert listeners({"sigil": {"http": {}, "grpc": None}}) == ({"127.0.0.1:8080"}, set())
    with pytest.raises(ConfigError) as info:
        pipelines = "service: {pipelines: {p: {receivers: [sigil], exporters: [debug]}}}\n"
        load_text("receivers: {sigil: {}}\nexporters: {debug: {}}\n" + pipelines)
    assert info.value.problems == ["receivers::sigil: at least one of http, grpc must be configured"]


def test_components_lists_choices_without_markdown_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components"]) == 0
    out = capsys.readouterr().out
    assert "\\|" not in out
    assert "protocol: grpc | http = " in out
