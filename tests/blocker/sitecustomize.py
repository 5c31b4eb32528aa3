"""Loaded by Python at start-up when this folder is on PYTHONPATH: makes the top-level
packages named in AIRMAP_BLOCK_MODULES (comma-separated) unimportable, as on a QGIS whose
Python lacks them. Used by the tests of the plugin without its packages."""
import os
import sys
from importlib.abc import MetaPathFinder

BLOCKED = {name.strip() for name in os.environ.get("AIRMAP_BLOCK_MODULES", "").split(",") if name.strip()}


class Blocker(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named '{fullname}' (blocked by the test)", name=fullname)
        return None


if BLOCKED:
    sys.meta_path.insert(0, Blocker())
