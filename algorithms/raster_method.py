"""Shared run logic of raster -> raster algorithms (bicubic, linear in time, and the models).

Two ways to run: ``refine`` gets the whole input in memory and returns the whole output;
methods that set ``STREAMED`` get the input as an open reader (read by band and window) and
hand the output on in row strips to a file writer, so the output is never held whole."""
from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import open_raster_layer, read_raster_layer, require_data
from ..provider.styling import style_on_load


class RasterRefineAlgorithm(AirmapAlgorithm):
    """Reads INPUT, calls ``refine`` (or ``refine_into``) and writes OUTPUT."""

    METHOD_LABEL = ""
    STREAMED = False

    def refine(self, raster, parameters, context, feedback):
        """Return (data (B, H, W), grid, band_names)."""
        raise NotImplementedError

    def streamed_output(self, reader, parameters, context):
        """(grid, band names) of the output of a STREAMED method."""
        raise NotImplementedError

    def refine_into(self, reader, write, parameters, context, feedback):
        """Read ``reader`` (core RasterReader) and hand every output row strip to
        ``write(band, first_row, rows)``, rows of each band in order."""
        raise NotImplementedError

    def process(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        out_path = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        if self.STREAMED:
            from ..core.raster_io import RasterWriter  # rasterio: see provider/__init__.py

            with open_raster_layer(layer, feedback) as reader:
                require_data(reader.has_data(), layer.name())
                source, units, shape = reader.source, reader.units, (reader.count,) + reader.grid.shape
                grid, names = self.streamed_output(reader, parameters, context)
                with RasterWriter(out_path, grid, len(names), names, units, protect=[source]) as writer:
                    self.refine_into(reader, writer.write, parameters, context, feedback)
            self._written.append(writer.target)
        else:
            raster = read_raster_layer(layer, feedback)
            units, shape = raster.units, raster.data.shape
            data, grid, names = self.refine(raster, parameters, context, feedback)
            self.write_raster(out_path, data, grid, band_names=names, units=units, protect=[raster.source])
        feedback.pushInfo(f"{shape[0]} x {shape[1]} x {shape[2]} -> {len(names)} x {grid.height} x {grid.width}")
        style_on_load(context, out_path, f"{layer.name()} {self.METHOD_LABEL} [{units or 'value'}]", units=units)
        return {"OUTPUT": out_path}
