"""``gateway validate``: every problem in one run, strict YAML, several files, --set, file and
environment references, --no-environment, and no secret in any message."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from gateway.cli import main
from gateway.config import load_sources
from gateway.confmap import MAX_YAML_NODES
from gateway.errors import ConfigError

ROOT = pathlib.Path(__file__).parent.parent
SECRET = "hunter2-very-secret"


def _validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_problem_in_one_run(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A key problem, a dangling reference, a route conflict and a durability problem: once
    # reported in three runs (YAML keys, then references, then the graph), now in one.
    path = _write(
        tmp_path,
        "c.yaml",
        """
receivers:
  sigil/a: {http: {endpoint: 127.0.0.1:18080}, grpc: null}
  sigil/b: {http: {endpoint: 127.0.0.1:18080}, grpc: null}
processors:
  batch: {acknowledge: buffer}
exporters:
  sigil: {endpoint: http://127.0.0.1:1, sending_queue: {storage: QDIR}}
  file: {path: x.jsonl, formatt: sigil}
service:
  pipelines:
    p: {receivers: [sigil/a, sigil/b], processors: [batch], exporters: [sigil, file, otlp]}
""".replace("QDIR", str(tmp_path / "q")),
    )
    code, _, err = _validate(capsys, "--config", path)
    assert code == 1
    assert err.splitlines()[1:] == [
        '  exporters::file::formatt: unknown key (did you mean "format"?)',
        '  service::pipelines::p::exporters::2: "otlp" is not defined under exporters',
        "  service::pipelines::p::processors::0: batch would acknowledge records before they are on disk in the "
        "persistent queue of sigil; set its acknowledge: export (the default) or remove it",
        "  receivers::sigil/b: sigil/b and sigil/a both claim * /api/v1/generations:export on endpoint 127.0.0.1:18080",
    ]
    assert err.splitlines()[0].endswith(": 4 problem(s):")


def test_duplicate_keys_are_refused(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "c.yaml", "exporters:\n  file: {path: a}\n  file: {path: b}\nservice: {}\n")
    code, _, err = _validate(capsys, "--config", path)
    assert code == 1
    assert "duplicate key 'file' (first on line 2)" in err and "line 3" in err


def test_alias_bombs_are_refused_quickly(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    path = _write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    code, _, err = _validate(capsys, "--config", path)  # 9^9 nodes once expanded: never built
    assert code == 1
    assert f"aliases expand the document past {MAX_YAML_NODES} nodes" in err
    recursive = _write(tmp_path, "loop.yaml", "a: &a [1, *a]\n")
    assert "an alias refers to the node that contains it" in _validate(capsys, "--config", recursive)[2]
    # Small, ordinary anchors still work.
    ok = _write(
        tmp_path,
        "ok.yaml",
        "exporters:\n  file: &f {path: a.jsonl}\n  file/b: *f\n"
        "receivers: {foglamp: {endpoint: 127.0.0.1:0}}\n"
        "service: {pipelines: {p: {receivers: [foglamp], exporters: [file, file/b]}}}\n",
    )
    assert _validate(capsys, "--config", ok)[0] == 0


def test_several_configs_merge_and_set_wins(tmp_path: pathlib.Path) -> None:
    base = _write(
        tmp_path,
        "base.yaml",
        "receivers: {foglamp: {endpoint: 127.0.0.1:4000}}\n"
        "exporters: {file: {path: a.jsonl}, debug: {}}\n"
        "service: {shutdown_timeout: 3s, pipelines: {p: {receivers: [foglamp], exporters: [file, debug]}}}\n",
    )
    over = _write(
        tmp_path,
        "over.yaml",
        "exporters: {file: {format: sigil}}\nservice: {pipelines: {p: {exporters: [file]}}}\n",
    )
    cfg = load_sources([base, over], ["service::shutdown_timeout=7s", "receivers::foglamp::endpoint=127.0.0.1:4001"])
    file_cfg = next(c.config for cid, c in cfg.exporters.items() if cid.type == "file")
    assert (file_cfg.path, file_cfg.format) == ("a.jsonl", "sigil")  # mappings merge
    assert cfg.service.pipelines["p"].exporters == ["file"]  # lists are replaced
    assert float(cfg.service.shutdown_timeout) == 7.0
    assert next(iter(cfg.receivers.values())).config.endpoint == "127.0.0.1:4001"
    with pytest.raises(ConfigError) as info:
        load_sources([base], ["nonsense"])
    assert info.value.problems == ["--set nonsense: expected key::subkey=value"]


def test_references(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "hash.key"
    key.write_text(SECRET + "\n")
    path = _write(
        tmp_path,
        "c.yaml",
        f"""
receivers: {{foglamp: {{endpoint: "127.0.0.1:${{env:FOGLAMP_PORT:-4000}}"}}}}
processors:
  redact: {{rules: [email], hash_key: "${{file:{key}}}"}}
  redact/b: {{rules: [email], hash_key: "${{env:REDACT_HASH_KEY}}"}}
exporters:
  file: {{path: "${{env:OUT_PATH:?set OUT_PATH to the output file}}"}}
service:
  pipelines: {{p: {{receivers: [foglamp], processors: [redact, redact/b], exporters: [file]}}}}
""",
    )
    monkeypatch.delenv("REDACT_HASH_KEY", raising=False)
    monkeypatch.delenv("OUT_PATH", raising=False)
    code, _, err = _validate(capsys, "--config", path)
    assert code == 1
    unset = "REDACT_HASH_KEY is not set; ${env:REDACT_HASH_KEY} expands to an empty string"
    assert f"warning: processors::redact/b::hash_key: {unset}" in err
    assert "  exporters::file::path: OUT_PATH is not set: set OUT_PATH to the output file" in err
    monkeypatch.setenv("REDACT_HASH_KEY", "")  # empty is as bad as unset
    assert (
        "REDACT_HASH_KEY is empty; ${env:REDACT_HASH_KEY} expands to an empty string"
        in _validate(capsys, "--config", path)[2]
    )
    monkeypatch.setenv("OUT_PATH", str(tmp_path / "out.jsonl"))
    cfg = load_sources([path])
    assert cfg.processors[next(c for c in cfg.processors if c.name == "")].config.hash_key == SECRET


def test_no_environment_checks_syntax_types_and_references(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        "c.yaml",
        """
receivers: {foglamp: {endpoint: "${env:LISTEN}"}}
processors: {auth: {keys_file: "${env:KEYS_FILE}"}}
exporters:
  sigil:
    endpoint: ${env:SIGIL_URL}
    protocol: ${env:SIGIL_PROTOCOL}
    timeout: ${env:TIMEOUT}
    auth: {mode: basic, tenant_id: "${env:T}", basic_password: "${file:/run/secrets/sigil}"}
service:
  workers: ${env:WORKERS}
  pipelines: {p: {receivers: [foglamp], processors: [auth], exporters: [sigil]}}
""",
    )
    for name in ("LISTEN", "KEYS_FILE", "SIGIL_URL", "SIGIL_PROTOCOL", "TIMEOUT", "T", "WORKERS"):
        monkeypatch.delenv(name, raising=False)
    assert _validate(capsys, "--config", path, "--no-environment")[0] == 0
    broken = _write(tmp_path, "b.yaml", pathlib.Path(path).read_text().replace("[sigil]", "[sigil/x]"))
    code, _, err = _validate(capsys, "--config", broken, "--no-environment")
    assert code == 1 and '"sigil/x" is not defined under exporters' in err


def test_secrets_are_never_echoed(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        "c.yaml",
        """
receivers: {foglamp: {endpoint: 127.0.0.1:0}}
exporters:
  sigil:
    endpoint: "${env:SIGIL_URL}"
    timeout: "${env:SIGIL_TOKEN}"
    sending_queue: {queue_size: "${env:SIGIL_TOKEN}"}
service: {pipelines: {p: {receivers: [foglamp], exporters: [sigil]}}}
""",
    )
    monkeypatch.setenv("SIGIL_TOKEN", SECRET)
    monkeypatch.setenv("SIGIL_URL", "ftp://tenant:pa55word@sigil.example.net")
    code, out, err = _validate(capsys, "--config", path)
    assert code == 1
    assert SECRET not in out + err and "pa55word" not in out + err
    assert "exporters::sigil::timeout: cannot use the value of '${env:SIGIL_TOKEN}' (<redacted>)" in err
    hidden = "the value of '${env:SIGIL_TOKEN}' (<redacted>)"
    assert f"exporters::sigil::sending_queue::queue_size: expected an integer, got {hidden}" in err


def test_validate_as_a_program_exits_with_its_code(tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, "c.yaml", "service: {pipelines: {}}\nservice: {}\n")
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--config", path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 1 and "duplicate key 'service'" in out.stderr


def test_cli_set_and_several_configs(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _validate(capsys, "--set", "service::workers=0")  # over the embedded default
    assert code == 1 and "  service::workers: must be between 1 and 256" in err
    base = _write(
        tmp_path,
        "a.yaml",
        "receivers: {foglamp: {endpoint: 127.0.0.1:4000}}\nexporters: {debug: {}}\n"
        "service: {pipelines: {p: {receivers: [foglamp], exporters: [debug]}}}\n",
    )
    broken = _write(tmp_path, "b.yaml", "exporters: {debug: {verbosity: loud}}\n")
    code, _, err = _validate(capsys, "--config", base, "--config", broken)
    assert code == 1 and err.startswith(f"{base}, {broken}: 1 problem(s):")
    assert _validate(capsys, "--config", base, "--config", broken, "--set", "exporters::debug={}")[0] == 0
