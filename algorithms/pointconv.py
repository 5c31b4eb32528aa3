"""airmap:pointconv — station networks (PM2.5, optional RH and wind speed) + optional DEM and
urban fraction -> PM2.5 raster with PointConv + regression UNet++ (seed 004)."""
from qgis.core import (QgsProcessing, QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFile, QgsProcessingParameterRasterLayer)

from ..core.errors import AirmapInputError
from ..core.pointconv import predict_pm25
from ..provider.layers import qgs_crs, read_raster_layer, read_stations
from ..provider.parameters import add_device, add_raster_output, add_station_grid_parameters, device_choice
from .station_method import StationGridAlgorithm

MET_LAYERS = (("RH", "rh", "Relative-humidity stations (optional, another network)", "Relative humidity field (%)"),
              ("WIND", "wind_speed", "Wind-speed stations (optional, another network)", "Wind speed field (m/s)"))


class PointConvAlgorithm(StationGridAlgorithm):
    ALG_ID = "pointconv"
    DISPLAY_NAME = "PointConv + UNet++ station fusion (PM2.5)"
    GROUP_ID = "deep"
    METHOD_LABEL = "PointConv-UNet++"
    HELP = ("Fuses PM2.5 station measurements into a full PM2.5 raster (Lyu et al. 2022): each station network "
            "is spread by two learned normalised convolutions (PointConv) and a regression UNet++ combines them "
            "with terrain and urban land. Stations are averaged per cell.\n\n"
            "Optional: relative-humidity and wind-speed stations (both needed; they may be other sites than the "
            "PM2.5 stations) select the meteorological model, otherwise the PM2.5-only model runs. DEM (m) and "
            "urban fraction (0-1) rasters are resampled to the grid; either may be left out.\n\n"
            "The shipped models were trained on simulated fields only, never on observations; fine-tune them to "
            "your region with airmap:finetune. When the stations are sparse for the chosen PIXEL_SIZE, the model "
            "runs on a coarser working grid and the result is interpolated (see the log).")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_station_grid_parameters(self, field_help="PM2.5 field")
        for key, _, layer_label, field_label in MET_LAYERS:
            self.addParameter(QgsProcessingParameterFeatureSource(
                f"{key}_INPUT", self.tr(layer_label), [QgsProcessing.TypeVectorPoint], optional=True))
            self.addParameter(QgsProcessingParameterField(
                f"{key}_FIELD", self.tr(field_label), parentLayerParameterName=f"{key}_INPUT",
                type=QgsProcessingParameterField.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "DEM", self.tr("Elevation raster in m (optional)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "URBAN", self.tr("Urban fraction raster, 0-1 (optional)"), optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model file (empty = shipped model chosen from the inputs)"),
            extension="onnx", optional=True))
        add_device(self)
        add_raster_output(self, "OUTPUT", "PointConv PM2.5 raster")

    def _met_stations(self, parameters, context, grid, feedback):
        stations = {}
        for key, name, layer_label, _ in MET_LAYERS:
            source = self.parameterAsSource(parameters, f"{key}_INPUT", context)
            if source is None:
                continue
            field = self.parameterAsString(parameters, f"{key}_FIELD", context)
            if not field:
                raise AirmapInputError(f"{layer_label.split(' (')[0]} were given without a field: set {key}_FIELD.")
            stations[name] = read_stations(source, field, qgs_crs(grid.crs), context, feedback)
        return stations

    def _covariates(self, parameters, context, feedback):
        out = {}
        for key, name in (("DEM", "dem"), ("URBAN", "urban")):
            layer = self.parameterAsRasterLayer(parameters, key, context)
            if layer is not None:
                out[name] = read_raster_layer(layer, feedback)
        return out

    def interpolate(self, stations, grid, parameters, context, progress):
        feedback = _Feedback(progress)
        run = predict_pm25(
            stations, grid,
            met_stations=self._met_stations(parameters, context, grid, feedback),
            covariates=self._covariates(parameters, context, feedback),
            model_path=self.parameterAsFile(parameters, "MODEL", context) or None,
            device=device_choice(self, parameters, context), progress=progress)
        return run.field


class _Feedback:
    """The bits of QgsProcessingFeedback that read_stations/read_raster_layer use, via Progress."""

    def __init__(self, progress):
        self._progress = progress

    def pushInfo(self, message):  # noqa: N802
        self._progress.info(message)
