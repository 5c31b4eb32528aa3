"""Shared run logic of raster -> raster algorithms (bicubic, linear in time, and the models).

Every method gets the input as an open reader (read by band and window) and hands the output
on in row strips to a file writer, so neither is ever held whole."""
from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import open_raster_layer, require_data
from ..provider.styling import style_on_load


class RasterRefineAlgorithm(AirmapAlgorithm):
    """Opens INPUT, asks ``streamed_output`` for the output grid, streams ``refine_into`` into
    OUTPUT."""

    METHOD_LABEL = ""

    def streamed_output(self, reader, parameters, context):
        """(grid, band names) of the output."""
        raise NotImplementedError

    def refine_into(self, reader, write, parameters, context, feedback):
        """Read ``reader`` (core RasterReader) and hand every output row strip to
        ``write(band, first_row, rows)``, rows of each band in order."""
        raise NotImplementedError

    def process(self, parameters, context, feedback):
        from ..core.raster_io import RasterWriter  # rasterio: see provider/__init__.py

        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        out_path = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        with open_raster_layer(layer, feedback) as reader:
            require_data(reader.has_data(), layer.name())
            units, shape = reader.units, (reader.count,) + reader.grid.shape
            grid, names = self.streamed_output(reader, parameters, context)
            with RasterWriter(out_path, grid, len(names), names, units, protect=[reader.source]) as writer:
                self.refine_into(reader, writer.write, parameters, context, feedback)
        self._written.append(writer.target)
        feedback.pushInfo(f"{shape[0]} x {shape[1]} x {shape[2]} -> {len(names)} x {grid.height} x {grid.width}")
        style_on_load(context, out_path, f"{layer.name()} {self.METHOD_LABEL} [{units or 'value'}]", units=units)
        return {"OUTPUT": out_path}
