"""Item 1-2 of the foundation: the plugin package layout, metadata and pinned setup."""
import configparser
import re

from helpers import REPO

REQUIRED_METADATA = ("name", "qgisMinimumVersion", "description", "about", "version", "author")


def test_metadata_has_required_fields_and_declares_a_processing_provider():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "metadata.txt", encoding="utf-8")
    general = cfg["general"]
    missing = [k for k in REQUIRED_METADATA if not general.get(k)]
    assert missing == []
    assert general["hasProcessingProvider"] == "yes"
    assert general["qgisMinimumVersion"] == "3.22"


def test_layout_matches_design():
    for folder in ("provider", "algorithms", "core", "models", "tests", "bench", ".ci"):
        assert (REPO / folder).is_dir(), folder
    for path in ("__init__.py", "plugin.py", "README.md", "Makefile", ".ci/run"):
        assert (REPO / path).is_file(), path
    assert "make test" in (REPO / ".ci/run").read_text()


def test_requirements_are_pinned_and_respect_the_debian_constraints():
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    assert all(pins.values()), "every requirement is pinned to one version"
    assert int(pins["numpy"].split(".")[0]) < 2
    assert int(pins["affine"].split(".")[0]) < 3
    assert pins["pytest-qgis"] == "5.0.2"
    assert {"rasterio", "scipy", "scikit-image", "onnx", "onnxruntime-gpu", "matplotlib", "pykrige"} <= set(pins)
    assert re.search(r"^torch==2\.13\.0$", (REPO / "requirements-torch.txt").read_text(), re.M)


def test_core_and_models_never_import_qgis_and_only_models_import_torch():
    offenders = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in (".venv", ".pkg", "tests"):
            continue
        text = path.read_text(encoding="utf-8")
        if rel.parts[0] in ("core", "models") and re.search(r"^\s*(from|import) qgis", text, re.M):
            offenders.append(f"{rel}: qgis")
        if rel.parts[0] != "models" and re.search(r"^\s*(from|import) torch", text, re.M):
            offenders.append(f"{rel}: torch")
    assert offenders == []
