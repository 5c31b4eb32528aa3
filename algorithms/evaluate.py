"""airmap:evaluate — score a prediction raster against a reference raster or stations."""
from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterRasterLayer)

from ..core.errors import AirmapInputError
from ..core.metrics import METRIC_NAMES
from ..provider.algorithm import AirmapAlgorithm
from ..provider.compat import SOURCE_POINT, SOURCE_VECTOR
from ..provider.layers import crs_string, qgs_crs, read_raster_layer, read_stations
from ..provider.parameters import add_value_field
from ..provider.tables import write_metric_rows


class EvaluateAlgorithm(AirmapAlgorithm):
    ALG_ID = "evaluate"
    DISPLAY_NAME = "Evaluate a prediction"
    GROUP_ID = "evaluation"
    HELP = ("Compares a prediction raster with a reference raster (resampled bilinearly onto the "
            "prediction grid) or with reference stations (the prediction is read in the cell holding "
            "each station). Writes N, R, R², IOA, MAE (=MAB), RMSE, NME and mean bias to a table and an "
            "HTML report with a scatter-density plot and a bias map.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Prediction raster")))
        self.addParameter(QgsProcessingParameterRasterLayer("REFERENCE", self.tr("Reference raster"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE_POINTS", self.tr("Reference stations"), [SOURCE_POINT], optional=True))
        add_value_field(self, "REFERENCE_FIELD", "Reference station field", parent="REFERENCE_POINTS", optional=True)
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Metrics table"), SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_HTML", self.tr("HTML report"), "HTML files (*.html)", optional=True))
        for name in METRIC_NAMES:
            self.addOutput(QgsProcessingOutputNumber(name, name))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        if not parameters.get("REFERENCE") and not parameters.get("REFERENCE_POINTS"):
            return False, self.tr("Give a REFERENCE raster or REFERENCE_POINTS stations to compare with.")
        return super().checkParameterValues(parameters, context)

    def process(self, parameters, context, feedback):
        from ..core.evaluate import compare_points, compare_rasters  # rasterio: see provider/__init__.py
        from ..core.report import write_report

        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        prediction = read_raster_layer(layer, feedback)
        ref_layer = self.parameterAsRasterLayer(parameters, "REFERENCE", context) if parameters.get("REFERENCE") else None
        if ref_layer is not None:
            comparison = compare_rasters(prediction, read_raster_layer(ref_layer, feedback))
            against = ref_layer.name()
        else:
            source = self.parameterAsSource(parameters, "REFERENCE_POINTS", context)
            field = self.parameterAsString(parameters, "REFERENCE_FIELD", context)
            if not field:
                raise AirmapInputError("Choose the REFERENCE_FIELD holding the station values.")
            stations = read_stations(source, field, qgs_crs(prediction.grid.crs), context, feedback)
            comparison = compare_points(prediction, stations)
            against = f"stations ({field})"
        metrics = comparison.metrics
        feedback.pushInfo(", ".join(f"{k}={metrics[k]:.4g}" for k in METRIC_NAMES))
        html_path = self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context)
        if html_path:
            write_report(html_path, comparison, f"{layer.name()} vs {against}", prediction.grid.bounds,
                         prediction.units or "", {"prediction": layer.name(), "reference": against,
                                                  "CRS": crs_string(layer.crs()) or prediction.grid.crs})
            self._written.append(html_path)
        table = write_metric_rows(self, parameters, context, "OUTPUT", [((layer.name(), against), metrics)],
                                  extra=("prediction", "reference"))
        return dict(metrics, OUTPUT=table, OUTPUT_HTML=html_path)
