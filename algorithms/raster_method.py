"""Shared run logic of raster -> raster algorithms (bicubic, linear in time, and the models)."""
from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import read_raster_layer
from ..provider.styling import style_on_load


class RasterRefineAlgorithm(AirmapAlgorithm):
    """Reads INPUT, calls ``refine`` and writes OUTPUT on the grid it returns."""

    METHOD_LABEL = ""

    def refine(self, raster, parameters, context, feedback):
        """Return (data (B, H, W), grid, band_names)."""
        raise NotImplementedError

    def process(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        raster = read_raster_layer(layer, feedback)
        out_path = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        data, grid, names = self.refine(raster, parameters, context, feedback)
        self.write_raster(out_path, data, grid, band_names=names, units=raster.units, protect=[raster.source])
        feedback.pushInfo(f"{raster.data.shape[0]} x {raster.grid.height} x {raster.grid.width} -> "
                          f"{data.shape[0]} x {grid.height} x {grid.width}")
        style_on_load(context, out_path, f"{layer.name()} {self.METHOD_LABEL} [{raster.units or 'value'}]",
                      units=raster.units)
        return {"OUTPUT": out_path}
