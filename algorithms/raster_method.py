"""Shared run logic of raster -> raster algorithms (bicubic, linear in time, and the models)."""
from ..core.raster_io import RasterWriter
from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import read_raster_layer
from ..provider.styling import style_on_load


class RasterRefineAlgorithm(AirmapAlgorithm):
    """Reads INPUT, calls ``refine`` and writes OUTPUT on the grid it returns."""

    METHOD_LABEL = ""

    def refine(self, raster, parameters, context, feedback):
        """Return (data (B, H, W), grid, band_names)."""
        raise NotImplementedError

    def streamed_output(self, raster, parameters, context):
        """(grid, band names) for methods that write their output strip by strip through
        ``refine_into`` (the output is then never held whole); None: use ``refine``."""
        return None

    def refine_into(self, raster, write, parameters, context, feedback):
        """Compute and hand every output row strip to ``write(band, first_row, rows)``."""
        raise NotImplementedError

    def process(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        raster = read_raster_layer(layer, feedback)
        out_path = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        streamed = self.streamed_output(raster, parameters, context)
        if streamed is not None:
            grid, names = streamed
            with RasterWriter(out_path, grid, len(names), names, raster.units, protect=[raster.source]) as writer:
                self.refine_into(raster, writer.write, parameters, context, feedback)
            self._written.append(writer.target)
        else:
            data, grid, names = self.refine(raster, parameters, context, feedback)
            self.write_raster(out_path, data, grid, band_names=names, units=raster.units, protect=[raster.source])
        feedback.pushInfo(f"{raster.data.shape[0]} x {raster.grid.height} x {raster.grid.width} -> "
                          f"{len(names)} x {grid.height} x {grid.width}")
        style_on_load(context, out_path, f"{layer.name()} {self.METHOD_LABEL} [{raster.units or 'value'}]")
        return {"OUTPUT": out_path}
