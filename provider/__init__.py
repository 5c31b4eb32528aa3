"""QGIS side of airmap: provider, algorithm base class, layer <-> array conversion, styling."""
