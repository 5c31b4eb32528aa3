"""HF-SDF (seed 000): a map as the zero level set of a height-field signed distance function.

Modules: cube (lifting a map into [-1, 1]^3 and back), sampling (the public code's point
sampling), decoder (ONNX evaluation), latent (fitting a map's latent code in numpy),
readout (root finding and marching cubes), reconstruct (observations -> raster end to end).
QGIS-free and torch-free; single-map mode reaches torch only through models/hfsdf.
"""
from .cube import Cube, lift_map
from .reconstruct import (DEFAULT_MODEL, MODES, SURFACES, HfsdfResult, Observations, load_decoder,
                          read_surface, reconstruct)

__all__ = ["Cube", "lift_map", "Observations", "HfsdfResult", "reconstruct", "read_surface",
           "load_decoder", "DEFAULT_MODEL", "MODES", "SURFACES"]
