"""The generic core names no format: what it needs to know about one, the format declares in its
``Format`` value (gateway.formats). Each exception here is listed, with its reason, in
docs/architecture.md; a new mention fails this test until it is justified there too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERIC = [
    "gateway/service.py",
    "gateway/pipeline.py",
    "gateway/model.py",
    "gateway/component.py",
    "gateway/config.py",
    "gateway/units.py",
    "gateway/sizing.py",
    "gateway/errors.py",
    "gateway/listeners.py",
    "gateway/telemetry.py",
    "gateway/auth.py",
    "gateway/_oidc.py",
    "gateway/tls.py",
    "gateway/_conn_guard.py",
    "gateway/exporters/_helper.py",
    "gateway/exporters/_queue.py",
    "gateway/exporters/_transport.py",
    "gateway/receivers/_common.py",
    "gateway/nats_encodings.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "gateway/processors").glob("*.py")),
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "gateway/evaluation").glob("*.py")),
]
FORMAT_NAME = re.compile(r"sigil|foglamp|lumiq|otlp|openinference|agento11y", re.IGNORECASE)

# (file, line fragment): the documented exceptions.
EXCEPTIONS = {
    # A config example in a docstring names a receiver type, as a user's YAML would.
    ("gateway/auth.py", "      otlp:"),
    ("gateway/tls.py", "      otlp:"),
    # Retry rules cite the protocol specification they come from.
    ("gateway/exporters/_transport.py", "# gRPC codes worth retrying (OTLP spec)"),
    ("gateway/exporters/_transport.py", "lists them exactly (OTLP/HTTP)"),
    ("gateway/exporters/_transport.py", "(``listed_only``, OTLP)"),
}
# Modules that implement Sigil's evaluation rules (selectors, sampling, evaluator kinds): the
# name credits where the rules come from; they import no format code.
RULES_FROM_SIGIL = {
    "gateway/processors/evaluate.py",
    "gateway/processors/filter.py",
    *(str(p.relative_to(ROOT)) for p in (ROOT / "gateway/evaluation").glob("*.py")),
}


def test_generic_modules_name_no_format() -> None:
    found = []
    for rel in GENERIC:
        if rel in RULES_FROM_SIGIL:
            continue  # prose only: test_generic_modules_import_no_format_package checks their imports
        for number, line in enumerate((ROOT / rel).read_text().splitlines(), 1):
            if FORMAT_NAME.search(line) and not any(f == rel and frag in line for f, frag in EXCEPTIONS):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert found == []


def test_generic_modules_import_no_format_package() -> None:
    # They may use the registry (`from gateway import formats`) and the format-neutral modules
    # beside it, never a format's package.
    allowed = {"gateway.formats", "gateway.formats.record_json", "gateway.formats.report", "gateway.formats.pricing"}
    pattern = re.compile(r"^\s*(?:from|import) (gateway\.formats[\w.]*)", re.MULTILINE)
    for rel in GENERIC:
        for module in pattern.findall((ROOT / rel).read_text()):
            assert module in allowed, f"{rel} imports {module}"
