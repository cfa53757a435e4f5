"""The layering rules of the package, checked on every import statement (module level or in a function)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "mrargo"


def imports() -> list[tuple[str, str]]:
    """(module path relative to mrargo/, imported top-level name or mrargo.X.Y) for every import."""
    found = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(rel, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((rel, node.module))
    return found


def importers(prefix: str) -> set[str]:
    return {rel for rel, name in imports() if name == prefix or name.startswith(prefix + ".")}


def test_the_scan_sees_imports() -> None:
    assert "store.py" in importers("fsspec") and "worker.py" in importers("argparse")


def test_argparse_only_in_the_cli_and_the_pods_entry_point() -> None:
    assert {m for m in importers("argparse") if not m.startswith("cli/")} == {"worker.py"}


def test_fsspec_only_in_store() -> None:
    assert importers("fsspec") == {"store.py"}


def test_hera_only_in_argo_and_kubernetes_only_in_cluster() -> None:
    hera, kubernetes = importers("hera"), importers("kubernetes")
    assert hera and all(m.startswith("argo/") for m in hera), hera
    assert kubernetes and all(m.startswith("cluster/") for m in kubernetes), kubernetes


def test_api_and_runtime_do_not_import_each_other() -> None:
    assert not {m for m in importers("mrargo.runtime") if m == "api.py"}
    assert not {m for m in importers("mrargo.api") if m.startswith("runtime/")}
