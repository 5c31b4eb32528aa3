"""QGIS side of airmap: provider, algorithm base class, layer <-> array conversion, styling."""
from .proj_data import share_proj_database

share_proj_database()  # first, before a module here imports rasterio (see proj_data.py)
