"""Shared run logic of station -> grid algorithms (IDW, kriging, and the models that follow)."""
from qgis.core import QgsProcessingParameterRasterDestination

from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import require_overlap, stations_and_grid
from ..provider.styling import input_name, style_on_load


class StationGridAlgorithm(AirmapAlgorithm):
    """Reads INPUT/FIELD onto the output grid, calls ``interpolate`` and writes OUTPUT."""

    METHOD_LABEL = ""
    STREAMED = False

    def interpolate(self, stations, grid, parameters, context, progress):
        """Return (H, W) estimate, or a dict {output name: array} for several outputs.
        ``self.output_paths`` holds the raster outputs asked for (an empty path: not wanted)."""
        raise NotImplementedError

    def interpolate_into(self, stations, grid, parameters, context, progress, write):
        """For STREAMED methods: hand every strip to ``write(output name, first row, rows)``,
        rows of each output in order; each goes to its file as it comes, so no output is held
        whole (strips of outputs not asked for are dropped)."""
        raise NotImplementedError

    def process(self, parameters, context, feedback):
        source = self.parameterAsSource(parameters, "INPUT", context)
        field = self.parameterAsString(parameters, "FIELD", context)
        _, stations, grid = stations_and_grid(self, parameters, context, source, field, feedback)
        inside = require_overlap(stations, grid)
        feedback.pushInfo(f"{len(stations)} stations ({inside} inside the extent) -> grid of "
                          f"{grid.width} x {grid.height} cells of {grid.res[0]:g} ({grid.crs}).")
        # Each destination is resolved once: QGIS makes a new temporary path at every call, and a
        # second call would write a file other than the one QGIS then loads.
        self.output_paths = {p.name(): self.parameterAsOutputLayer(parameters, p.name(), context)
                             for p in self.destinationParameterDefinitions()
                             if isinstance(p, QgsProcessingParameterRasterDestination)}
        units = self.parameterAsString(parameters, "UNITS", context)
        name = f"{input_name(self, parameters, 'INPUT', context, field)} {self.METHOD_LABEL}"
        wanted = {key: path for key, path in self.output_paths.items() if path}
        labels = {key: f"{field} {self.METHOD_LABEL}" + ("" if key == "OUTPUT" else " variance") for key in wanted}
        if self.STREAMED:
            self._write_strips(lambda write: self.interpolate_into(stations, grid, parameters, context,
                                                                   self.progress(feedback), write),
                               wanted, labels, grid, units)
        else:
            results = self.interpolate(stations, grid, parameters, context, self.progress(feedback))
            if not isinstance(results, dict):
                results = {"OUTPUT": results}
            wanted = {key: path for key, path in wanted.items() if key in results}
            for key, array in results.items():
                if key in wanted:
                    self.write_raster(wanted[key], array, grid, band_names=[labels[key]], units=units)
        outputs = {}
        for key, path in wanted.items():
            if key != "OUTPUT":   # e.g. the kriging variance: below the result, unchecked
                style_on_load(context, path, f"{name} variance [({units})²]", units=f"({units})²",
                              below=self.output_paths["OUTPUT"])
            else:
                style_on_load(context, path, f"{name} [{units}]", units=units)
            outputs[key] = path
        return outputs

    def _write_strips(self, run, wanted, labels, grid, units):
        from ..core.raster_io import RasterWriter  # rasterio: see provider/__init__.py

        writers = {}
        try:
            for key, path in wanted.items():
                writers[key] = RasterWriter(path, grid, 1, [labels[key]], units)
            run(lambda key, r0, rows: writers[key].write(0, r0, rows) if key in writers else None)
            for key, writer in writers.items():
                self._written.append(writer.close())
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
