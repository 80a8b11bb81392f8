"""The library's layout: subpackages by concept, mirrored by the tests, and no profile below the book."""
import ast
from pathlib import Path

import pytest

import lib

LIB = Path(lib.__file__).parent
PACKAGES = sorted(p.parent.name for p in LIB.glob("*/__init__.py"))
# Each stage may use those before it. similarity works on arrays alone (no other lib import), so it
# comes first: encoders.geometry measures CKA between neighbouring layers with it.
PIPELINE = ["similarity", "data", "encoders", "finetune", "probing", "experiments", "book"]


def test_every_subpackage_says_its_place_and_has_its_tests():
    assert PACKAGES == sorted(PIPELINE)
    tests = Path(__file__).parent
    for name in PACKAGES:
        docstring = ast.get_docstring(ast.parse((LIB / name / "__init__.py").read_text(encoding="utf-8")))
        assert docstring and docstring.splitlines()[0].startswith("Pipeline stage "), name  # one line: its place
        assert list((tests / name).glob("test_*.py")), f"tests/{name}/ mirrors lib/{name}/"


def _modules():
    return [p for p in LIB.rglob("*.py") if p.parent != LIB or p.name == "artifacts.py"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(LIB)))
def test_no_stage_uses_a_later_one_and_none_takes_a_profile(path):
    stage = path.relative_to(LIB).parts[0] if path.parent != LIB else None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    later = PIPELINE[PIPELINE.index(stage) + 1:] if stage in PIPELINE else PIPELINE
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lib."):
            assert node.module.split(".")[1] not in later, f"{path.name} imports {node.module}"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [a.arg for a in node.args.args + node.args.kwonlyargs]
            assert not {"params", "profile_params"} & set(names), f"{path.name}: {node.name} takes a profile dict"
    if stage != "book":
        assert "load_profile(" not in path.read_text(encoding="utf-8"), f"{path.name} reads a profile"
