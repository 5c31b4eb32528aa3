"""Ready for QGIS 4 on Qt 6 (metadata.txt says supportsQt6=True): the code keeps out the Qt 5-only
patterns, so none come back. Qt 6 (PyQt6) drops the unscoped enum names (``Qt.AlignLeft`` is
``Qt.AlignmentFlag.AlignLeft``), ``exec_()``, ``QVariant.Type`` and direct PyQt5 imports; QGIS 4 drops
its own unscoped enum aliases the same way (provider/compat.py picks the newest name)."""
import ast
import configparser
import enum
import importlib
import re

import pytest

from helpers import REPO

SKIP_DIRS = {".venv", ".pkg", ".git", "bench/out", "demo_output"}
# (pattern, what to write instead): text checks, one line at a time
QT5_ONLY = [
    (re.compile(r"^\s*(from|import)\s+(PyQt5|PyQt6|sip)\b"), "import through qgis.PyQt (from qgis.PyQt import sip)"),
    (re.compile(r"\.exec_\("), "exec()"),
    (re.compile(r"\bQVariant\.(?!__)\w"), "the field types in provider/compat.py (QVariant.Type is gone in Qt 6)"),
    (re.compile(r"\b(QRegExp|QDesktopWidget)\b"), "QRegularExpression / QScreen"),
]
ALLOWED = {"provider/compat.py": "its QGIS < 3.38 branch uses QVariant.Type (never taken on Qt 6)",
           "tests/test_qt6_ready.py": "the patterns themselves"}


def python_files():
    for path in sorted(REPO.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if not any(rel == d or rel.startswith(d + "/") for d in SKIP_DIRS):
            yield rel, path


def test_no_qt5_only_patterns_in_the_code():
    found = []
    for rel, path in python_files():
        if rel in ALLOWED:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, instead in QT5_ONLY:
                if pattern.search(line):
                    found.append(f"{rel}:{lineno}: {line.strip()}  ->  {instead}")
    assert found == []


def _is_enum_member(value):
    """A Qt/QGIS enum value: a Python enum (PyQt6, QGIS >= 3.30 Qgis.*) or a sip enum (PyQt5)."""
    return isinstance(value, enum.Enum) or type(type(value)).__name__ == "enumtype"


def _qgis_names(tree):
    """Names a module binds with ``from qgis... import X`` (anywhere in it) -> the objects."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qgis":
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    names[alias.asname or alias.name] = getattr(module, alias.name)
    return names


def unscoped_enums(source):
    """``Owner.Member`` uses where Owner is a Qt/QGIS class (not an enum) and Member an enum value,
    e.g. Qt.AlignLeft or QgsProcessing.TypeVectorPoint, resolved against the running QGIS."""
    tree = ast.parse(source)
    names = _qgis_names(tree)

    def resolve(node):
        if isinstance(node, ast.Name):
            return names.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = resolve(node.value)
            return getattr(owner, node.attr, None) if owner is not None else None
        return None

    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = resolve(node.value)
        is_enum_type = isinstance(owner, type) and (issubclass(owner, enum.Enum) or type(owner).__name__ == "enumtype")
        if isinstance(owner, type) and not is_enum_type and _is_enum_member(getattr(owner, node.attr, None)):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_check_finds_unscoped_enums_and_accepts_scoped_ones():
    source = ("from qgis.PyQt.QtCore import Qt\nfrom qgis.core import QgsProcessingUtils\n"
              "a = Qt.AlignLeft\nb = Qt.AlignmentFlag.AlignLeft\nc = QgsProcessingUtils.LayerHint.Raster\n"
              "d = QgsProcessingUtils.Raster\n")
    assert [line for line, _ in unscoped_enums(source)] == [3, 6]


def test_qt_and_qgis_enums_are_fully_scoped():
    found = [f"{rel}:{line}: {text}" for rel, path in python_files() if rel not in ALLOWED
             for line, text in unscoped_enums(path.read_text(encoding="utf-8"))]
    assert found == [], "scope these (Qt.AlignmentFlag.AlignLeft), or use provider/compat.py"


def test_metadata_declares_qt6_support():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "metadata.txt", encoding="utf-8")
    assert cfg["general"].getboolean("supportsQt6")


@pytest.mark.parametrize("name", ["SOURCE_POINT", "NUMBER_INTEGER", "FIELD_NUMERIC", "FLAG_ADVANCED", "GEOMETRY_POINT",
                                  "WKB_POINT", "REQUEST_NO_FLAGS", "SHADER_LINEAR", "FIELD_DOUBLE"])
def test_compat_names_are_enum_values_of_this_qgis(name):
    from airmap.provider import compat

    assert _is_enum_member(getattr(compat, name))
