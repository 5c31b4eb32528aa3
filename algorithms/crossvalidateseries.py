"""airmap:crossvalidateseries — leave-stations-out cross-validation of the series methods
(SPIN, IGNNK, per-hour IDW and kriging) over whole series: every fold's stations are removed
at every hour, inferred from the others, and scored where they measured."""
import numpy as np
from qgis.core import QgsProcessingOutputNumber, QgsProcessingParameterEnum, \
    QgsProcessingParameterFeatureSink, QgsProcessingParameterNumber

from ..core.metrics import METRIC_NAMES
from ..provider.algorithm import AirmapAlgorithm
from ..provider.parameters import add_device, add_model_file, device_choice, model_path
from ..provider.series_inputs import add_series_parameters, add_time_range, add_wind_parameters, read_series, read_wind
from ..provider.tables import write_metric_rows, write_station_rows
from ..provider.compat import NUMBER_INTEGER, SOURCE_POINT, SOURCE_VECTOR

CV_METHODS = ("spin", "ignnk", "idw", "kriging")   # core.timeseries.methods.CV_METHODS (no import at load)
LABELS = ("SPIN", "IGNNK", "IDW per hour", "Ordinary kriging per hour")


class CrossValidateSeriesAlgorithm(AirmapAlgorithm):
    ALG_ID = "crossvalidateseries"
    DISPLAY_NAME = "Cross-validate a station time-series method"
    GROUP_ID = "evaluation"
    HELP = ("k-fold leave-stations-out cross-validation over whole series: each fold of stations is removed from "
            "the input at every time, the METHOD infers their series from the other stations, and the held-out "
            "values are scored (the same metrics as airmap:crossvalidate). Methods: SPIN and IGNNK (the shipped "
            "models, or MODEL), and the classical baselines IDW and ordinary kriging, each hour mapped on its own. "
            "Inputs as airmap:spin (long-format INPUT, optional wind, START/END). Outputs the metrics per station "
            "(points) and overall.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_series_parameters(self)
        add_wind_parameters(self)
        add_time_range(self)
        self.addParameter(QgsProcessingParameterEnum("METHOD", self.tr("Method"), options=list(LABELS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "FOLDS", self.tr("Folds"), NUMBER_INTEGER, defaultValue=5, minValue=2))
        self.addParameter(QgsProcessingParameterNumber(
            "SEED", self.tr("Random seed of the fold split"), NUMBER_INTEGER, defaultValue=0))
        add_model_file(self, "MODEL", "Model file for SPIN / IGNNK (.onnx; default: the shipped model)")
        add_device(self)
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Held-out scores per station"), SOURCE_POINT))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "METRICS", self.tr("Cross-validation metrics"), SOURCE_VECTOR))
        for name in METRIC_NAMES:
            self.addOutput(QgsProcessingOutputNumber(name, name))

    def process(self, parameters, context, feedback):
        from ..core.timeseries.crossval import cross_validate_series
        from ..core.timeseries.wind import coverage_note

        method = CV_METHODS[self.parameterAsEnum(parameters, "METHOD", context)]
        series, xy, crs = read_series(self, parameters, context, feedback)
        wind = None
        if method == "spin":
            wind, _ = read_wind(self, parameters, context, series, feedback=feedback)
            for note in coverage_note(wind, series.ids):
                feedback.pushInfo(note)
        folds = self.parameterAsInt(parameters, "FOLDS", context)
        options = {"model_path": model_path(self, parameters, context),
                   "device": device_choice(self, parameters, context)} if method in ("spin", "ignnk") else {}
        cv = cross_validate_series(series, wind, method, folds, self.parameterAsInt(parameters, "SEED", context),
                                   self.progress(feedback), **options)
        label = LABELS[CV_METHODS.index(method)]
        feedback.pushInfo(f"{label}, {folds}-fold leave-stations-out over {series.times.size} times: " +
                          ", ".join(f"{k}={cv.metrics[k]:.4g}" for k in METRIC_NAMES))
        per = {k: np.array([s[k] for s in cv.per_station], dtype=np.int64 if k == "N" else np.float64)
               for k in ("N", "MAE", "RMSE", "R", "MB")}
        points = write_station_rows(self, parameters, context, "OUTPUT", crs, xy[:, 0], xy[:, 1],
                                    dict(per, fold=cv.fold.astype(np.int64)))
        table = write_metric_rows(self, parameters, context, "METRICS",
                                  [((label, f"{folds}-fold leave-stations-out, whole series"), cv.metrics)],
                                  extra=("method", "validation"))
        return dict(cv.metrics, OUTPUT=points, METRICS=table)
