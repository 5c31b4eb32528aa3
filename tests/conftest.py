"""Test setup: make the repository importable as the package ``airmap`` (as QGIS would
install it), point tests at ../shared/data, and offer small shared fixtures."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG_DIR = REPO / ".pkg"
SHARED_DATA = REPO.parent / "shared" / "data"


def _expose_as_airmap() -> None:
    """A symlink .pkg/airmap -> repo lets tests import ``airmap`` whatever the clone's name."""
    PKG_DIR.mkdir(exist_ok=True)
    link = PKG_DIR / "airmap"
    if not link.exists():
        try:
            link.symlink_to(REPO, target_is_directory=True)
        except FileExistsError:
            pass
    if str(PKG_DIR) not in sys.path:
        sys.path.insert(0, str(PKG_DIR))


_expose_as_airmap()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: tests read the real data sets from ../shared/data")
    return SHARED_DATA
