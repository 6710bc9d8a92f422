"""No import cycles among the modules of ``sms`` or of ``sms_outbox``.

The graph holds every import, at module level or inside a function (type
checking blocks included): a cycle means two modules do one job, or a third
should hold what they share. A package's ``__init__`` importing its own
submodules (to re-export them) is not a cycle.
"""

import ast
from pathlib import Path

from django.test import SimpleTestCase

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sms", "sms_outbox")


def _modules():
    """Return {dotted name: path} for every module of the packages."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imported(name, path, modules):
    """Yield the modules of ``modules`` that module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            # "from a import b" imports a.b when b is a module, else a.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def import_graph():
    """Return {module: set of modules it imports} for both packages."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set(_imported(name, path, modules))
        if path.name == "__init__.py":
            edges = {t for t in edges if not t.startswith(name + ".")}
        graph[name] = edges
    return graph


def cycles(graph):
    """Return the strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


class ImportCycleTests(SimpleTestCase):
    def test_no_module_takes_part_in_an_import_cycle(self):
        self.assertEqual(cycles(import_graph()), [])

    def test_the_checker_finds_a_cycle(self):
        graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
        self.assertEqual(cycles(graph), [["a", "b", "c"]])

    def test_function_level_imports_count(self):
        graph = import_graph()
        # sms_outbox.backends imports its models inside send_messages().
        self.assertIn("sms_outbox.models", graph["sms_outbox.backends"])

    def test_sms_never_imports_sms_outbox(self):
        graph = import_graph()
        leaks = {
            (module, target)
            for module, targets in graph.items()
            if module.split(".")[0] == "sms"
            for target in targets
            if target.split(".")[0] == "sms_outbox"
        }
        self.assertEqual(leaks, set())
