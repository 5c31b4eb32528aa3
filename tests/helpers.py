"""Helpers shared by tests (import as ``from helpers import ...``)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def make_point_layer(points, crs="EPSG:4326", fields=(("value", "double"),), name="stations"):
    """Memory point layer; ``points`` is a list of (x, y, *attribute values)."""
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    field_spec = "&".join(f"field={n}:{t}" for n, t in fields)
    uri = f"Point?crs={crs}&{field_spec}" if crs else f"Point?{field_spec}"
    layer = QgsVectorLayer(uri, name, "memory")
    assert layer.isValid()
    feats = []
    for x, y, *attrs in points:
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
        f.setAttributes(list(attrs))
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    layer.updateExtents()
    return layer


def smooth_field(x, y):
    """A known smooth concentration field used by several tests (µg/m³)."""
    import numpy as np

    return 40 + 15 * np.sin(np.asarray(x) / 3.0) + 10 * np.cos(np.asarray(y) / 4.0)


def smooth_field_stations(n=150, seed=2):
    """(x, y, values) of ``n`` random stations on ``smooth_field`` over lon 100-110, lat 30-38."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(100, 110, n)
    y = rng.uniform(30, 38, n)
    return x, y, smooth_field(x, y)


def station_layer_from(x, y, values):
    """Memory point layer (EPSG:4326, field 'value') from station arrays."""
    return make_point_layer([(float(a), float(b), float(c)) for a, b, c in zip(x, y, values)])
