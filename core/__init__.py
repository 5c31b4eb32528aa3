"""QGIS-free numerics of airmap: grids, raster/station I/O, ONNX runtime, baselines,
metrics, cross-validation and the pollution simulator. Never imports qgis or torch."""
