"""gateway convert: offline translation of recorded payload files."""

from __future__ import annotations

import gzip
import pathlib
import subprocess
import sys

import orjson

from gateway.cli import main
from gateway.convert import convert

DATA = pathlib.Path(__file__).parent / "testdata"
ROOT = pathlib.Path(__file__).resolve().parent.parent

SIGIL = {
    "generations": [
        {
            "id": f"gen_{i}",
            "conversation_id": "conv-1",
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "span_id": f"{i + 1:016x}",
            "mode": "GENERATION_MODE_STREAM",
            "model": {"provider": "openai", "name": "gpt-4o"},
            "input": [{"role": "MESSAGE_ROLE_USER", "parts": [{"text": "hi"}]}],
            "output": [{"role": "MESSAGE_ROLE_ASSISTANT", "parts": [{"text": "hello"}]}],
            "usage": {"input_tokens": "10", "output_tokens": "3"},
            "started_at": "2026-11-23T09:00:00Z",
            "completed_at": "2026-11-23T09:00:01Z",
        }
        for i in range(3)
    ]
}


def _write_lines(path: pathlib.Path, bodies: list[bytes]) -> None:
    path.write_bytes(b"".join(b + b"\n" for b in bodies))


def test_foglamp_identity_through_records(tmp_path: pathlib.Path) -> None:
    original = orjson.loads((DATA / "foglamp" / "rich_payload_every_field.json").read_bytes())
    src = tmp_path / "in.jsonl"
    _write_lines(src, [orjson.dumps(original)])
    convert("foglamp", "record", str(src), str(tmp_path / "records.jsonl"))
    summary = convert("record", "foglamp", str(tmp_path / "records.jsonl"), str(tmp_path / "out.jsonl"))
    assert summary.bad_lines == []
    assert orjson.loads((tmp_path / "out.jsonl").read_bytes().splitlines()[0]) == original


def test_sigil_to_each_format_with_summary(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "recorded"
    directory.mkdir()
    _write_lines(directory / "a.jsonl", [orjson.dumps(SIGIL), b"{not json", b""])
    with gzip.open(directory / "b.jsonl.gz", "wb") as fh:
        fh.write(orjson.dumps(SIGIL) + b"\n")
    out = tmp_path / "out"
    summary = convert("sigil", "lumiqtrace", str(directory), str(out))
    assert (summary.lines, summary.records_in, summary.records_out) == (3, 6, 6)
    assert [(f, n) for f, n, _ in summary.bad_lines] == [("a.jsonl", 2)]
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(events) == 6 and {e["model"] for e in events} == {"gpt-4o"}
    assert all(e["stream"] is True and e["latency_ms"] == 1000 for e in events)
    summary = convert("sigil", "otlp", str(directory / "a.jsonl"), str(out))
    assert summary.records_out == 3
    back = convert("otlp", "sigil", str(out), str(tmp_path / "sigil.jsonl"))
    assert back.records_in == 3
    gens = orjson.loads((tmp_path / "sigil.jsonl").read_bytes())["generations"]
    assert sorted(g["id"] for g in gens) == ["gen_0", "gen_1", "gen_2"]


def test_non_llm_records_are_reported_not_fatal(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "in.jsonl"
    original = orjson.loads((DATA / "foglamp" / "rich_payload_every_field.json").read_bytes())
    _write_lines(src, [orjson.dumps(original)])
    summary = convert("foglamp", "sigil", str(src), str(tmp_path / "out.jsonl"))
    text = summary.text()
    assert "dropped: not a generation or workflow step=" in text


def test_cli_convert(tmp_path: pathlib.Path, capsys: object) -> None:
    src = tmp_path / "in.jsonl"
    _write_lines(src, [orjson.dumps(SIGIL)])
    assert main(["convert", "--from", "sigil", "--to", "foglamp", str(src), str(tmp_path / "out.jsonl")]) == 0
    body = orjson.loads((tmp_path / "out.jsonl").read_bytes())
    assert body["version"] == "v1" and len(body["traces"][0]["spans"]) == 3
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "convert",
            "--from",
            "sigil",
            "--to",
            "record",
            "/nonexistent",
            "x",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "cannot read /nonexistent" in out.stderr


def test_cli_convert_exit_codes_and_force(tmp_path: pathlib.Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_lines(src, [orjson.dumps(SIGIL)])
    args = ["convert", "--from", "sigil", "--to", "record", str(src), str(out)]
    assert main(args) == 0
    written = out.read_bytes()
    assert main(args) == 1 and out.read_bytes() == written  # no silent overwrite
    assert main([*args, "--force"]) == 0
    _write_lines(src, [orjson.dumps(SIGIL), b"{not json"])
    assert main([*args, "--force"]) == 3  # a line rejected, the rest written
    _write_lines(src, [b"{not json"])
    assert main([*args, "--force"]) == 4  # nothing converted
    src.write_bytes(b"")
    assert main([*args, "--force"]) == 4


def test_cli_convert_stdin_to_stdout() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "convert", "--from", "sigil", "--to", "foglamp", "-", "-"],
        input=orjson.dumps(SIGIL) + b"\n",
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    body = orjson.loads(out.stdout)
    assert body["version"] == "v1" and len(body["traces"][0]["spans"]) == 3
    assert b"records written" in out.stderr  # the loss summary stays on stderr
