"""No two modules of one folder of src/radpath import each other, directly or round a longer loop (#24 §5).

The house rule (DESIGN.md, "arrows point down"): within one folder, imports form no cycle. Every
`import` and `from ... import` of a module is read with `ast` (function-level imports included, since
they are arrows too), resolved to the radpath module it names, and drawn as an arrow between the two
entries of the importer's folder that hold them: a module, or a whole subpackage (so shared
`pathology/` modules importing `pathology/til/` while `til/` imports them is a cycle of `pathology/`).
A folder's `__init__.py` is its own entry.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "radpath"

def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module under src/radpath (a package by its __init__.py)."""
    found = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The radpath modules that module `name` imports (anywhere in its body)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
    resolved = set()
    for target in out:
        while target and target not in modules:   # `import a.b.c` of a name inside a module
            target = target.rpartition(".")[0]
        if target.startswith(ROOT) and target != name:
            resolved.add(target)
    return resolved


def _entry(folder: str, module: str) -> str | None:
    """The entry of `folder` holding `module` (a module or subpackage name; "__init__" for the folder
    itself), None when the module is outside the folder."""
    if module == folder:
        return "__init__"
    if not module.startswith(folder + "."):
        return None
    return module[len(folder) + 1 :].split(".")[0]


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one entry (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def folder_graphs() -> dict[str, dict[str, set[str]]]:
    """Folder (dotted) -> entry -> the entries of the same folder it imports."""
    modules = _modules()
    arrows = {name: _imports(name, path, modules) for name, path in modules.items()}
    folders = sorted(name for name, path in modules.items() if path.name == "__init__.py")
    graphs = {}
    for folder in folders:
        graph: dict[str, set[str]] = defaultdict(set)
        for importer, targets in arrows.items():
            source = _entry(folder, importer)
            if source is None:
                continue
            for target in targets:
                dest = _entry(folder, target)
                if dest is not None and dest != source:
                    graph[source].add(dest)
        graphs[folder] = dict(graph)
    return graphs


def folder_cycles() -> dict[str, list[frozenset[str]]]:
    """Folder -> its import cycles (each a set of its entries)."""
    found = {folder: _cycles(graph) for folder, graph in folder_graphs().items()}
    return {folder: cycles for folder, cycles in found.items() if cycles}


def test_no_two_modules_of_one_folder_import_each_other() -> None:
    found = {folder: [sorted(c) for c in cycles] for folder, cycles in folder_cycles().items()}
    assert not found, f"import cycles within a folder: {found}"


def test_the_dicom_reader_is_layered() -> None:
    edges = folder_graphs()["radpath.mri"]
    assert {"volume", "series"} <= edges["io"] and "io" not in edges["dicom"]     # the cycle of #24 §5 is gone
    assert "dicom" in edges["series"] and "series" not in edges["dicom"]


def test_the_cycle_finder_sees_a_planted_cycle() -> None:
    """Tarjan on a hand-made graph: a <-> b and c -> d -> e -> c are cycles, f -> a is not part of one."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(sorted(c) for c in _cycles(graph)) == [["a", "b"], ["c", "d", "e"]]


@pytest.mark.parametrize(("folder", "module", "entry"), [
    ("radpath.pathology", "radpath.pathology.til.nets", "til"),
    ("radpath.pathology", "radpath.pathology", "__init__"),
    ("radpath.pathology", "radpath.pathology.models", "models"),
    ("radpath.pathology.til", "radpath.pathology.models", None),
])
def test_an_import_is_drawn_between_the_entries_of_the_importers_folder(folder: str, module: str,
                                                                         entry: str | None) -> None:
    assert _entry(folder, module) == entry


def test_shared_pathology_modules_do_not_import_an_analysis() -> None:
    """Slide reading, tiling, tissue, inference and model files sit below til/, segmentation/ and cells/."""
    modules = _modules()
    analyses = ("til", "segmentation", "cells")
    shared = [name for name in modules if name.count(".") == 2 and name.startswith("radpath.pathology.")
              and name.split(".")[2] not in analyses]
    assert "radpath.pathology.models" in shared and "radpath.pathology.infer" in shared
    wrong = {name: sorted(t for t in _imports(name, modules[name], modules)
                          if _entry("radpath.pathology", t) in analyses) for name in shared}
    assert not {k: v for k, v in wrong.items() if v}
