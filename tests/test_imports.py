"""The import graph of our packages, read from the source (ast): no cycle, and layers that only point down.

Imports under `if TYPE_CHECKING:` count too: a cycle hidden from the interpreter is still a cycle in the design.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("infra", "policy", "review", "evidence", "lab", "vuln", "bench")
Graph = Mapping[str, set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def module_graph() -> dict[str, set[str]]:
    """Each of our modules and the modules of ours it imports (`from a import b` is a.b when b is a module)."""
    modules = our_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            else:
                continue
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def package_graph(graph: Graph) -> dict[str, set[str]]:
    """The same graph between top-level packages."""
    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        top = module.split(".")[0]
        packages.setdefault(top, set()).update(m.split(".")[0] for m in imported if m.split(".")[0] != top)
    return packages


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of the graph as a path that returns to its start, or None (depth-first, iterative)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return [*path[path.index(step) :], step]
            elif not state.get(step):
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph.get(step, ()))))
    return None


def importers_of(graph: Graph, package: str) -> dict[str, set[str]]:
    return {
        module: {m for m in imported if m == package or m.startswith(f"{package}.")}
        for module, imported in graph.items()
        if any(m == package or m.startswith(f"{package}.") for m in imported)
    }


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_layered_graph() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_is_read_from_the_source_not_assumed_empty() -> None:
    graph = module_graph()
    assert "infra.firewall.generate" in graph["infra.firewall.config"]
    assert "infra.network.fakes" in graph["review.offline"]  # `from infra.network import fakes`
    assert "infra.policy_pack" in graph["review.pack_runner"]
    assert "infra" in package_graph(graph)["policy"]


def test_our_modules_import_each_other_without_a_cycle() -> None:
    assert find_cycle(module_graph()) is None


def test_our_packages_import_each_other_without_a_cycle() -> None:
    packages = package_graph(module_graph())
    assert find_cycle(packages) is None, packages


def test_neither_the_program_nor_the_pack_imports_the_review_tools() -> None:
    graph = module_graph()
    offenders = {
        module: imported
        for module, imported in importers_of(graph, "review").items()
        if module.startswith(("infra", "policy"))
    }
    assert offenders == {}


def test_the_program_imports_neither_the_pack_entry_nor_the_review_tools() -> None:
    """The concerns own their policies; the pack entry (policy/) and the review tools sit above them."""
    graph = module_graph()
    offenders = {
        module: {m for m in imported if m.split(".")[0] in ("policy", "review")}
        for module, imported in graph.items()
        if module.startswith("infra") and any(m.split(".")[0] in ("policy", "review") for m in imported)
    }
    assert offenders == {}


def _is_policy_module(module: str) -> bool:
    return module.endswith(".policies") or module in (
        "infra.policy_view",
        "infra.policy_registry",
        "infra.policy_pack",
        "infra.concerns",
    )


def test_the_pack_reads_the_policies_and_the_baseline_not_the_program() -> None:
    """policy/ is only the entry the CLI loads; the concerns' policies read no component, config or fakes."""
    graph = module_graph()
    assert {m for m in graph if m.startswith("policy")} == {"policy", "policy.__main__"}
    assert graph["policy.__main__"] == {"infra.policy_pack"}
    outside = {
        module: {m for m in imported if not _is_policy_module(m) and m not in ("infra", "infra.baseline")}
        for module, imported in graph.items()
        if _is_policy_module(module)
    }
    assert all(not imported for imported in outside.values()), outside
    assert {m for m in graph if m.startswith("infra.") and m.endswith(".policies")} >= {
        "infra.keys.policies",
        "infra.network.policies",
    }


def test_the_baseline_is_a_leaf_without_pulumi() -> None:
    tree = ast.parse((ROOT / "infra" / "baseline.py").read_text())
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "enum", "typing"}, imported
