"""`make package`: the zip a user installs from QGIS, and its metadata against the rules of the
QGIS plugin repository (issue 10, item 4)."""
import configparser
import re
import subprocess
import zipfile

from helpers import REPO

# What QGIS needs to load a plugin; plugins.qgis.org also requires `email` and `repository`
# (real ones: the project has no public repository yet, so they are absent, never placeholders).
REQUIRED = ("name", "qgisMinimumVersion", "description", "about", "version", "author")


def test_make_package_builds_the_plugin_zip_only(tmp_path):
    proc = subprocess.run(["make", "--no-print-directory", "package"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with zipfile.ZipFile(REPO / "dist" / "airmap.zip") as zf:
        names = zf.namelist()
        metadata = zf.read("airmap/metadata.txt").decode("utf-8")
    assert all(n.startswith("airmap/") for n in names)
    for needed in ("__init__.py", "plugin.py", "metadata.txt", "icon.svg", "requirements.txt",
                   "provider/provider.py", "provider/installer.py", "algorithms/kriging.py", "core/grid.py",
                   "models/pointconv/pointconv_pm25.onnx", "models/hfsdf/hfsdf.onnx"):
        assert f"airmap/{needed}" in names, needed
    tracked_onnx = subprocess.run(["git", "ls-files", "*.onnx"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert sorted(n[len("airmap/"):] for n in names if n.endswith(".onnx")) == sorted(tracked_onnx)
    assert [n for n in names if re.search(r"^airmap/(tests|bench|docs|\.ci)/|\.pt$|/Makefile$|pytest\.ini$", n)] == []
    check_metadata(metadata, names)


def check_metadata(text, names):
    cfg = configparser.ConfigParser()
    cfg.read_string(text)
    general = cfg["general"]
    assert [k for k in REQUIRED if not general.get(k, "").strip()] == []
    assert re.fullmatch(r"\d+\.\d+\.\d+", general["version"])
    assert re.fullmatch(r"3\.\d+", general["qgisMinimumVersion"])
    assert general["hasProcessingProvider"] == "yes"
    assert len(general["description"]) < 300 and general["about"] != general["description"]
    assert f"airmap/{general['icon']}" in names
    assert "example." not in text.lower()                          # no placeholder links or addresses
    for key in ("repository", "tracker", "homepage"):
        if key in general:
            assert re.fullmatch(r"https://\S+", general[key]), key
    if "email" in general:
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", general["email"])
