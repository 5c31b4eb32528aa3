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
    ci = (REPO / ".ci/run").read_text()
    assert "make test\n" in ci and "make test-lts" in ci   # QGIS 3.22 here, then 3.40 (README)


# The two tested platforms (README): Debian 12 with QGIS 3.22, Debian 13 with QGIS 3.40.
PLATFORMS = {"bookworm": {"python_version": "3.11"}, "trixie": {"python_version": "3.13"}}


def pins_for(platform):
    """requirements.txt as {name: version} for one platform, its environment markers applied."""
    from packaging.requirements import Requirement

    env = PLATFORMS[platform]
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        assert req.name.lower() not in pins, f"{req.name} is pinned twice for {platform}"
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{line}: pin one version"
        pins[req.name.lower()] = specs[0].version
    return pins


def test_requirements_are_pinned_for_each_platform_and_respect_its_constraints():
    bookworm, trixie = pins_for("bookworm"), pins_for("trixie")
    assert set(bookworm) == set(trixie), "every package is pinned on both platforms"
    assert {"numpy", "rasterio", "scipy", "scikit-image", "onnx", "onnxruntime-gpu", "matplotlib",
            "pykrige", "pytest-qgis"} <= set(bookworm)
    # bookworm's GDAL bindings break with numpy 2; trixie's are built against numpy 2.
    assert int(bookworm["numpy"].split(".")[0]) < 2 <= int(trixie["numpy"].split(".")[0])
    assert int(bookworm["affine"].split(".")[0]) < 3
    assert bookworm["pytest-qgis"] == "5.0.2"
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
