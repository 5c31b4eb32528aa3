"""One PROJ database for QGIS and rasterio.

A rasterio wheel brings its own PROJ and ``proj.db``. In the ``qgis`` and ``qgis_process``
programs, which link QGIS's GDAL and PROJ themselves, rasterio's calls can reach QGIS's PROJ,
which is then told to read the wheel's ``proj.db``; PROJ refuses a database whose layout is
older than its own (QGIS 3.40 on Debian 13: PROJ 9.6 against the wheel's 9.4, "The EPSG code is
unknown ... DATABASE.LAYOUT.VERSION.MINOR"). A newer layout is fine for an older PROJ, so when
QGIS's database is the newer one rasterio is pointed at it (rasterio honours ``PROJ_DATA``).
"""
import importlib.util
import os
import sqlite3
import sys

from qgis.core import QgsProjUtils


def layout_version(db_path):
    """(major, minor) layout version of a ``proj.db``, or None when it cannot be read."""
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = dict(con.execute("SELECT key, value FROM metadata WHERE key LIKE 'DATABASE.LAYOUT.VERSION.%'"))
        finally:
            con.close()
        return int(rows["DATABASE.LAYOUT.VERSION.MAJOR"]), int(rows["DATABASE.LAYOUT.VERSION.MINOR"])
    except (sqlite3.Error, KeyError, ValueError):
        return None


def _folder_with_db(folders):
    return next((f for f in folders if os.path.isfile(os.path.join(f, "proj.db"))), None)


def qgis_proj_folder():
    return _folder_with_db(QgsProjUtils.searchPaths())


def rasterio_wheel_proj_folder():
    try:
        spec = importlib.util.find_spec("rasterio")
    except (ImportError, ValueError):  # not installed (or blocked): nothing to share
        return None
    roots = (spec.submodule_search_locations or []) if spec else []
    return _folder_with_db([os.path.join(root, "proj_data") for root in roots])


def newer_folder(ours, theirs):
    """``ours`` when its proj.db has a newer layout of the same major version, else None."""
    mine, other = (layout_version(os.path.join(f, "proj.db")) for f in (ours, theirs))
    if mine and other and mine[0] == other[0] and mine[1] > other[1]:
        return ours
    return None


def share_proj_database(environ=os.environ):
    """Sets PROJ_DATA to QGIS's PROJ data folder when a rasterio wheel's database is older than
    QGIS's (and points an already imported rasterio there too); leaves a PROJ_DATA or PROJ_LIB
    the user set. Returns the folder chosen, or None."""
    if "PROJ_DATA" in environ or "PROJ_LIB" in environ:
        return None
    ours, theirs = qgis_proj_folder(), rasterio_wheel_proj_folder()
    chosen = newer_folder(ours, theirs) if ours and theirs else None
    if chosen:
        environ["PROJ_DATA"] = chosen   # read by rasterio when it is imported
        set_path = getattr(sys.modules.get("rasterio.env"), "set_proj_data_search_path", None)
        if set_path is not None:
            set_path(chosen)
    return chosen
