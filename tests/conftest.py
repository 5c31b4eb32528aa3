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
sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py

from helpers import make_point_layer, smooth_field  # noqa: E402
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: tests read the real data sets from ../shared/data")
    return SHARED_DATA


# --- QGIS fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def airmap_provider(qgis_app, qgis_processing):
    """The airmap provider registered once, as the plugin does at start-up."""
    from qgis.core import QgsApplication

    from airmap.provider.provider import AirmapProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("airmap")
    if provider is None:
        provider = AirmapProvider()
        assert registry.addProvider(provider)
    return provider


@pytest.fixture
def station_layer():
    """60 stations on the smooth field over lon 100-110, lat 30-38 (EPSG:4326)."""
    import numpy as np

    rng = np.random.default_rng(1)
    x = rng.uniform(100, 110, 60)
    y = rng.uniform(30, 38, 60)
    v = smooth_field(x, y)
    return make_point_layer([(float(a), float(b), float(c)) for a, b, c in zip(x, y, v)])

