"""QGIS side of airmap: provider, algorithm base class, layer <-> array conversion, styling.

Import rule (the plugin must load, and list its algorithms, in a QGIS whose Python has none
of requirements.txt): modules in ``provider/`` and ``algorithms/`` import only the standard
library, numpy, qgis and light ``core`` modules at module level. Whatever needs rasterio,
scipy, skimage, onnxruntime, pykrige, matplotlib, affine or torch (directly or through a
``core``/``models`` module) is imported inside the function that uses it (``process``,
``refine``, ``interpolate``...). A run that then misses a package gets a message naming it
and the install action (``AirmapAlgorithm.processAlgorithm``). tests/test_dependencies.py
imports every module with those packages blocked.
"""
from .proj_data import share_proj_database

share_proj_database()  # first, before a module here imports rasterio (see proj_data.py)
