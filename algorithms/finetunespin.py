"""airmap:finetunespin — adapt a SPIN model to the user's station series by the game it was
trained with (hide whole stations of random windows, infer them from the rest and the wind);
writes a new .onnx for airmap:spin's MODEL."""
from qgis.core import QgsProcessingParameterRasterLayer

from ..provider.series_inputs import add_series_parameters, add_time_range, add_wind_parameters, read_series, read_wind
from .finetune_common import COMMON_HELP, FinetuneAlgorithm


class FinetuneSpinAlgorithm(FinetuneAlgorithm):
    ALG_ID = "finetunespin"
    DISPLAY_NAME = "Fine-tune SPIN on your station series"
    FAMILY = "spin"
    MODULE = "spin"
    METRIC = "MAE"
    HELP = ("Adapts the SPIN spatiotemporal kriging model to your own station network and period, self-supervised: "
            "in every training step whole stations of a random window are hidden and the model learns to infer "
            "them from the others and the wind, the game airmap:spin plays at your targets. INPUT, FIELD, "
            "TIME_FIELD, STATION_FIELD, the wind parameters and START/END as in airmap:spin (long format). AOD "
            "(optional): a raster stack whose band descriptions are times; it only shapes the training loss (the "
            "map's gradients follow it), it is never an input. A share of the stations (VALIDATION_FRACTION, at least "
            "one) is never used for training; it is inferred from the others through airmap:spin's own path before "
            "and after, and its MAE chooses the best epoch. The shipped model learned Beijing, May to October 2014; give "
            "it your network's own record, including the season you map (models/spin/README.md)." + COMMON_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        add_series_parameters(self, "Measured value (e.g. PM2.5)")
        add_wind_parameters(self)
        add_time_range(self)
        self.addParameter(QgsProcessingParameterRasterLayer(
            "AOD", self.tr("AOD raster stack (bands = times; a training-loss term only, optional)"), optional=True))
        self.add_common_parameters()

    def default_model(self, parameters, context):
        from ..core.timeseries.infer import shipped_model

        return shipped_model("spin")

    def read_data(self, parameters, context, feedback):
        from ..core.timeseries.series import require_usable
        from ..core.timeseries.wind import coverage_note

        series, _, crs = read_series(self, parameters, context, feedback)
        require_usable(series)
        wind, _ = read_wind(self, parameters, context, series, feedback=feedback)
        for note in coverage_note(wind, series.ids):
            feedback.pushInfo(note)
        aod_layer = self.parameterAsRasterLayer(parameters, "AOD", context) if parameters.get("AOD") else None
        aod = aod_layer.source() if aod_layer is not None else None
        source = self.parameterAsSource(parameters, "INPUT", context)
        summary = {"input": source.sourceName(), "field": self.parameterAsString(parameters, "FIELD", context),
                   "crs": crs.authid(), "extent": [float(series.lon.min()), float(series.lat.min()),
                                                   float(series.lon.max()), float(series.lat.max())],
                   "extent_crs": "EPSG:4326"}
        return (series, wind), {"aod": aod}, summary, [aod]
