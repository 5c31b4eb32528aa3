"""Start QGIS headless with Processing and the airmap provider, for scripts (demo, bench)."""
import os
import sys

_STATE = {}


def start_qgis():
    """Initialise QGIS once per process and register the airmap provider; return the app."""
    if "app" in _STATE:
        return _STATE["app"]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication.instance()
    if app is None:
        app = QgsApplication([], False)
        app.initQgis()
    plugins = "/usr/share/qgis/python/plugins"
    if plugins not in sys.path:
        sys.path.append(plugins)
    from processing.core.Processing import Processing

    Processing.initialize()
    from .provider import AirmapProvider

    registry = QgsApplication.processingRegistry()
    if registry.providerById("airmap") is None:
        provider = AirmapProvider()
        registry.addProvider(provider)
        _STATE["provider"] = provider  # the registry does not keep the Python object alive
    _STATE["app"] = app
    return app


def point_layer(x, y, columns, crs, name="stations"):
    """A memory point layer from arrays: ``columns`` maps field names to float arrays."""
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsPointXY, QgsVectorLayer

    from .compat import FIELD_DOUBLE

    layer = QgsVectorLayer("Point", name, "memory")
    from .layers import qgs_crs

    layer.setCrs(qgs_crs(crs))
    provider = layer.dataProvider()
    provider.addAttributes([QgsField(n, FIELD_DOUBLE) for n in columns])
    layer.updateFields()
    feats = []
    for i in range(len(x)):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(float(x[i]), float(y[i]))))
        f.setAttributes([float(v[i]) for v in columns.values()])
        feats.append(f)
    provider.addFeatures(feats)
    layer.updateExtents()
    return layer
