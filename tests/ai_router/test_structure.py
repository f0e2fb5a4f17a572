"""The request path stays in small pieces: a loop over candidates (router.py), one provider
attempt (attempt.py) and the request's state (run.py), each function short enough to read
whole; no ai_router module grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import ai_router

PACKAGE = Path(ai_router.__file__).resolve().parent
REQUEST_PATH = ("router.py", "attempt.py", "run.py")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def test_request_path_functions_are_short() -> None:
    too_long = []
    for name in REQUEST_PATH:
        tree = ast.parse((PACKAGE / name).read_text(), filename=name)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.name} ({lines} lines)")
    assert too_long == []


def test_no_module_reaches_400_lines() -> None:
    too_big = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) >= MAX_MODULE_LINES
    }
    assert too_big == {}
