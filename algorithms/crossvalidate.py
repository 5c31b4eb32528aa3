"""airmap:crossvalidate — leave-stations-out / leave-groups-out cross-validation of any
station -> grid method of the provider."""
import numpy as np
from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterNumber)

from ..core.crossval import cross_validate
from ..core.metrics import METRIC_NAMES
from ..core.station_methods import METHODS, method_keys
from ..provider.algorithm import AirmapAlgorithm
from ..provider.compat import NUMBER_INTEGER, SOURCE_POINT, SOURCE_VECTOR
from ..provider.layers import stations_and_grid
from ..provider.method_inputs import (add_covariate_parameters, add_met_station_parameters, add_model_parameter,
                                      read_method_options)
from ..provider.parameters import add_device, add_grid_parameters, add_value_field
from ..provider.tables import write_metric_rows, write_station_rows


class CrossValidateAlgorithm(AirmapAlgorithm):
    ALG_ID = "crossvalidate"
    DISPLAY_NAME = "Cross-validate a station method"
    GROUP_ID = "evaluation"
    HELP = ("k-fold cross-validation: each fold of stations is held out, the METHOD is fitted on the "
            "others and predicts the held-out ones. With GROUP_FIELD (e.g. city) whole groups are held "
            "out together (leave-groups-out), which tests how the method does where it has no nearby "
            "station. EXTENT/PIXEL_SIZE set the grid of grid-based methods (IDW and kriging are "
            "evaluated exactly at the stations). Outputs the held-out prediction at every station and "
            "the metrics.\n\n"
            "Optional inputs for methods that use them (PointConv), with the same names as in "
            "airmap:pointconv: RH_INPUT/RH_FIELD and WIND_INPUT/WIND_FIELD meteorological stations, DEM and "
            "URBAN rasters, MODEL (e.g. your fine-tuned .onnx) and DEVICE. Only the INPUT stations are folded: "
            "the meteorological networks and rasters are given whole to every fold. Methods that do not use "
            "an input (IDW, kriging) ignore it and the log says so.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            "INPUT", self.tr("Station points"), [SOURCE_POINT]))
        add_value_field(self, "FIELD", "Measured value", parent="INPUT")
        self.addParameter(QgsProcessingParameterEnum(
            "METHOD", self.tr("Method"), options=[METHODS[k].label for k in method_keys()], defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "FOLDS", self.tr("Folds"), NUMBER_INTEGER, defaultValue=10, minValue=2))
        self.addParameter(QgsProcessingParameterField(
            "GROUP_FIELD", self.tr("Group field (leave whole groups out)"), parentLayerParameterName="INPUT",
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "SEED", self.tr("Random seed of the fold split"), NUMBER_INTEGER, defaultValue=0))
        add_grid_parameters(self)
        add_met_station_parameters(self)
        add_covariate_parameters(self)
        add_model_parameter(self, "Model file for model-based methods (empty = shipped model chosen from the inputs)")
        add_device(self)
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Held-out predictions"), SOURCE_POINT))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "METRICS", self.tr("Cross-validation metrics"), SOURCE_VECTOR))
        for name in METRIC_NAMES:
            self.addOutput(QgsProcessingOutputNumber(name, name))

    def process(self, parameters, context, feedback):
        source = self.parameterAsSource(parameters, "INPUT", context)
        field = self.parameterAsString(parameters, "FIELD", context)
        group_field = self.parameterAsString(parameters, "GROUP_FIELD", context) or None
        method = method_keys()[self.parameterAsEnum(parameters, "METHOD", context)]
        target, stations, grid = stations_and_grid(self, parameters, context, source, field, feedback,
                                                   group_field=group_field)
        folds = self.parameterAsInt(parameters, "FOLDS", context)
        options = read_method_options(self, parameters, context, grid, feedback)
        cv = cross_validate(stations, method, folds, self.parameterAsInt(parameters, "SEED", context),
                            groups=stations.groups, grid=grid, crs=grid.crs, progress=self.progress(feedback),
                            options=options)
        kind = f"leave-{group_field}-out" if group_field else "leave-stations-out"
        feedback.pushInfo(f"{METHODS[method].label}, {folds}-fold {kind}: " +
                          ", ".join(f"{k}={cv.metrics[k]:.4g}" for k in METRIC_NAMES))
        points = write_station_rows(self, parameters, context, "OUTPUT", target, stations.x, stations.y, {
            "observed": cv.observed, "predicted": cv.predicted,
            "residual": cv.predicted - cv.observed, "fold": cv.fold.astype(np.int64)})
        table = write_metric_rows(self, parameters, context, "METRICS",
                                  [((METHODS[method].label, f"{folds}-fold {kind}"), cv.metrics)],
                                  extra=("method", "validation"))
        return dict(cv.metrics, OUTPUT=points, METRICS=table)
