"""PointConv + regression UNet++ (seed 004, Lyu et al. 2022): station networks -> PM2.5 grid.

torch lives here only (net.py, train.py, export.py); inference runs from the exported ONNX
through ``core/pointconv.py`` with torch absent.
"""
