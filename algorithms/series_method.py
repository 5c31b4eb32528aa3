"""Shared run logic of the series algorithms (airmap:spin, airmap:ignnk): station series in
long format (+ wind) -> the inferred series at TARGETS points (long format) and/or an hourly
raster stack over EXTENT/PIXEL_SIZE. Time is processed window by window, so memory follows
(stations + targets) x window, not the length of the series."""
import numpy as np
from qgis.core import (QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterRasterLayer, QgsRectangle)

from ..core.errors import AirmapInputError
from ..provider.algorithm import AirmapAlgorithm
from ..provider.layers import grid_from_parameters, qgs_crs, require_valid_crs, target_crs_from
from ..provider.parameters import add_device, add_grid_parameters, add_model_file, add_raster_output, device_choice, \
    model_path
from ..provider.series_inputs import (add_series_parameters, add_series_rows, add_series_sink_parameter, add_time_range,
                                      add_wind_parameters, lonlat_of, read_series, read_targets, read_wind, series_sink)
from ..provider.styling import style_on_load
from ..provider.compat import SOURCE_POINT


class SeriesModelAlgorithm(AirmapAlgorithm):
    GROUP_ID = "deep"
    METHOD = ""       # key in core.timeseries.methods.METHODS
    USES_WIND = True

    def initAlgorithm(self, config=None):  # noqa: N802
        add_series_parameters(self, "Measured value (e.g. PM2.5)")
        add_wind_parameters(self)
        add_time_range(self)
        self.addParameter(QgsProcessingParameterFeatureSource(
            "TARGETS", self.tr("Target points (places to infer the series at; optional)"),
            [SOURCE_POINT], optional=True))
        self.addParameter(QgsProcessingParameterField(
            "TARGET_ID_FIELD", self.tr("Target id field (default: feature id)"), parentLayerParameterName="TARGETS",
            optional=True))
        add_grid_parameters(self)
        self.addParameter(QgsProcessingParameterRasterLayer(
            "AOD", self.tr("AOD raster stack (a training-loss term only; ignored at inference)"), optional=True))
        add_model_file(self)
        add_device(self)
        add_series_sink_parameter(self, "OUTPUT_POINTS", "Inferred series at the targets (long format)")
        add_raster_output(self, "OUTPUT", "Hourly raster stack (one band per time)", optional=True)

    def process(self, parameters, context, feedback):
        from ..core.timeseries import methods
        from ..core.timeseries.raster_out import BandStackWriter
        from ..core.timeseries.series import require_usable
        from ..core.timeseries.times import iso
        from ..core.timeseries.wind import coverage_note

        want_points = parameters.get("OUTPUT_POINTS") not in (None, "")
        want_raster = parameters.get("OUTPUT") not in (None, "")
        if not (want_points or want_raster):
            raise AirmapInputError("Choose an output: OUTPUT_POINTS (with TARGETS) and/or OUTPUT (an hourly raster).")
        series, xy, layer_crs = read_series(self, parameters, context, feedback)
        require_usable(series)
        targets = read_targets(self, parameters, context, feedback) if want_points else None
        if want_points and targets is None:
            raise AirmapInputError("OUTPUT_POINTS needs TARGETS: choose the points to infer the series at.")
        grid = self._grid(parameters, context, xy, layer_crs) if want_raster else None
        lon, lat = np.empty(0), np.empty(0)
        if targets is not None:
            lon, lat = targets[1], targets[2]
        if grid is not None:
            gx, gy = grid.cell_centres()
            glon, glat = lonlat_of(gx.ravel(), gy.ravel(), qgs_crs(grid.crs) if grid.crs else layer_crs, context)
            lon, lat = np.r_[lon, glon], np.r_[lat, glat]
        wind, target_wind = (read_wind(self, parameters, context, series, lon, lat, feedback) if self.USES_WIND
                             else (None, None))
        if self.USES_WIND:
            for note in coverage_note(wind, series.ids):
                feedback.pushInfo(note)
        if parameters.get("AOD"):
            feedback.pushInfo("AOD is never an input: it only constrains the map's gradients in SPIN's training loss "
                              "(give it to airmap:finetunespin), so this run ignored it.")
        n_points = 0 if targets is None else len(targets[0])
        sink, fields = None, None
        if want_points:
            sink, dest, fields = series_sink(self, parameters, context, "OUTPUT_POINTS", targets[5])
        outputs = {}
        label = methods.METHODS[self.METHOD].label
        feedback.pushInfo(f"{label}: {len(series)} stations -> {n_points} target points"
                          + (f" and a grid of {grid.width} x {grid.height} cells" if grid else "")
                          + f", {series.times.size} time steps.")
        stream = methods.blocks(self.METHOD, series, wind, lon, lat, target_wind,
                                model_path=model_path(self, parameters, context),
                                device=device_choice(self, parameters, context), progress=self.progress(feedback))
        if grid is not None:
            path = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
            with BandStackWriter(path, grid, iso(series.times), protect=[self._input_source(parameters, context)]) as out:
                self._written.append(path)
                for sl, block in stream:
                    self._emit_points(sink, fields, targets, series.times[sl], block[:n_points])
                    cells = block[n_points:].T.reshape(-1, grid.height, grid.width)
                    out.write(sl.start, cells)
            style_on_load(context, path, f"{label} ({series.times.size} hours)")
            outputs["OUTPUT"] = path
        else:
            for sl, block in stream:
                self._emit_points(sink, fields, targets, series.times[sl], block)
        if want_points:
            outputs["OUTPUT_POINTS"] = dest
        return outputs

    @staticmethod
    def _emit_points(sink, fields, targets, times, block):
        if sink is not None and block.shape[0]:
            add_series_rows(sink, fields, targets[0], targets[3], targets[4], times, block)

    def _input_source(self, parameters, context):
        layer = self.parameterAsVectorLayer(parameters, "INPUT", context)
        return layer.source() if layer is not None else None

    def _grid(self, parameters, context, xy, layer_crs):
        target = target_crs_from(self, parameters, context, layer_crs)
        require_valid_crs(target, "The output grid")
        box = QgsRectangle(float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))
        box.grow(max(box.width(), box.height()) * 0.02)
        return grid_from_parameters(self, parameters, context, target, box, layer_crs)
