"""Shared run logic of station -> grid algorithms (IDW, kriging, and the models that follow)."""
from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import require_overlap, stations_and_grid
from ..provider.styling import style_on_load


class StationGridAlgorithm(AirmapAlgorithm):
    """Reads INPUT/FIELD onto the output grid, calls ``interpolate`` and writes OUTPUT."""

    METHOD_LABEL = ""

    def interpolate(self, stations, grid, parameters, context, progress):
        """Return (H, W) estimate, or a dict {output name: array} for several outputs."""
        raise NotImplementedError

    def process(self, parameters, context, feedback):
        source = self.parameterAsSource(parameters, "INPUT", context)
        field = self.parameterAsString(parameters, "FIELD", context)
        _, stations, grid = stations_and_grid(self, parameters, context, source, field, feedback)
        inside = require_overlap(stations, grid)
        feedback.pushInfo(f"{len(stations)} stations ({inside} inside the extent) -> grid of "
                          f"{grid.width} x {grid.height} cells of {grid.res[0]:g} ({grid.crs}).")
        results = self.interpolate(stations, grid, parameters, context, self.progress(feedback))
        if not isinstance(results, dict):
            results = {"OUTPUT": results}
        units = self.parameterAsString(parameters, "UNITS", context)
        outputs = {}
        for name, array in results.items():
            path = self.parameterAsOutputLayer(parameters, name, context)
            if not path:
                continue
            label = f"{field} {self.METHOD_LABEL}" + (" variance" if name != "OUTPUT" else "")
            self.write_raster(path, array, grid, band_names=[label], units=units)
            style_on_load(context, path, f"{label} [{units}]" if name == "OUTPUT" else f"{label} [({units})²]")
            outputs[name] = path
        return outputs
