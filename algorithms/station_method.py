"""Shared run logic of station -> grid algorithms (IDW, kriging, and the models that follow)."""
from qgis.core import QgsProcessingParameterRasterDestination

from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import require_overlap, stations_and_grid
from ..provider.styling import input_name, style_on_load


class StationGridAlgorithm(AirmapAlgorithm):
    """Reads INPUT/FIELD onto the output grid, calls ``interpolate`` and writes OUTPUT."""

    METHOD_LABEL = ""

    def interpolate(self, stations, grid, parameters, context, progress):
        """Return (H, W) estimate, or a dict {output name: array} for several outputs.
        ``self.output_paths`` holds the raster outputs asked for (an empty path: not wanted)."""
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
        results = self.interpolate(stations, grid, parameters, context, self.progress(feedback))
        if not isinstance(results, dict):
            results = {"OUTPUT": results}
        units = self.parameterAsString(parameters, "UNITS", context)
        name = f"{input_name(self, parameters, 'INPUT', context, field)} {self.METHOD_LABEL}"
        outputs = {}
        for key, array in results.items():
            path = self.output_paths.get(key)
            if not path:
                continue
            secondary = key != "OUTPUT"
            label = f"{field} {self.METHOD_LABEL}" + (" variance" if secondary else "")
            self.write_raster(path, array, grid, band_names=[label], units=units)
            if secondary:   # e.g. the kriging variance: below the result, unchecked
                style_on_load(context, path, f"{name} variance [({units})²]", units=f"({units})²",
                              below=self.output_paths["OUTPUT"])
            else:
                style_on_load(context, path, f"{name} [{units}]", units=units)
            outputs[key] = path
        return outputs
