"""Every third-party module the gateway imports comes from a runtime dependency, so
`pip install .` (without the test extra) gives a gateway that starts."""

from __future__ import annotations

import ast
import importlib.metadata
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _runtime_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for req in project["dependencies"]:
        m = re.match(r"[A-Za-z0-9_.\-]+", req)
        assert m is not None
        names.add(m.group(0).lower().replace("_", "-"))
    return names


def _imported_top_levels() -> set[str]:
    tops: set[str] = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                tops.add(node.module.split(".")[0])
    return {t for t in tops if t not in sys.stdlib_module_names and t != "gateway"}


def test_every_imported_package_is_a_runtime_dependency() -> None:
    owners = importlib.metadata.packages_distributions()
    required = _runtime_requirements()
    missing = []
    for top in sorted(_imported_top_levels()):
        dists = {d.lower().replace("_", "-") for d in owners.get(top, [])}
        if top == "google":  # a namespace shared by several distributions: check the sub-packages
            continue
        if not dists & required:
            missing.append(f"{top} (from {sorted(dists)})")
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_google_namespace_modules_are_covered() -> None:
    required = _runtime_requirements()
    used = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        used.update(re.findall(r"^\s*from google\.(\w+)", path.read_text(), re.MULTILINE))
    providers = {"protobuf": "protobuf", "rpc": "googleapis-common-protos"}
    assert used <= set(providers), used
    assert {providers[u] for u in used} <= required
