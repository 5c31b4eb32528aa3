"""airmap:pointconv — station networks (PM2.5, optional RH and wind speed) + optional DEM and
urban fraction -> PM2.5 raster with PointConv + regression UNet++ (seed 004)."""
from qgis.core import QgsProcessingParameterBoolean

from ..provider.method_inputs import (ProgressFeedback, add_covariate_parameters, add_met_station_parameters,
                                      add_model_parameter, read_covariates, read_met_stations)
from ..provider.parameters import (add_device, add_raster_output, add_station_grid_parameters, device_choice,
                                   model_path, threads_choice)
from .station_method import StationGridAlgorithm

RESIDUAL_KRIGING_LABEL = "Add kriged residuals at the stations (regression kriging)"


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
            "The shipped models were trained on simulated fields only, never on observations; they can be "
            "fine-tuned to your stations with airmap:finetunepointconv (or to gridded fields with the model's "
            "train.py --init and export.py scripts, see models/pointconv/README.md) and the result given as MODEL. Compare with kriging on your network "
            "with airmap:crossvalidate (same optional inputs). When the stations are sparse for the chosen "
            "PIXEL_SIZE, the model runs on a coarser working grid and the result is interpolated (see the log).\n\n"
            "RESIDUAL_KRIGING: regression kriging, c x network + kriging of the stations' residuals, so the map "
            "reproduces the stations as kriging does and keeps the network's structure between them. The residuals "
            "come from network runs with each station hidden and the network's weight c from cross-validation at "
            "your stations (the log gives it; c = 0 means kriging alone did best). "
            "Fine-tune the model on your own station network with airmap:finetunepointconv.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_station_grid_parameters(self, field_help="PM2.5 field")
        add_met_station_parameters(self)
        add_covariate_parameters(self)
        add_model_parameter(self)
        add_device(self)
        self.addParameter(QgsProcessingParameterBoolean(
            "RESIDUAL_KRIGING", self.tr(RESIDUAL_KRIGING_LABEL), defaultValue=False, optional=True))
        add_raster_output(self, "OUTPUT", "PointConv PM2.5 raster")

    STREAMED = True

    def interpolate_into(self, stations, grid, parameters, context, progress, write):
        from ..core.pointconv_stream import stream_pm25

        feedback = ProgressFeedback(progress)
        stream_pm25(
            stations, grid, lambda r0, rows: write("OUTPUT", r0, rows),
            met_stations=read_met_stations(self, parameters, context, grid, feedback),
            covariates=read_covariates(self, parameters, context, feedback),
            model_path=model_path(self, parameters, context),
            device=device_choice(self, parameters, context), threads=threads_choice(self, parameters, context),
            residual_kriging=bool(parameters.get("RESIDUAL_KRIGING"))
            and self.parameterAsBoolean(parameters, "RESIDUAL_KRIGING", context),
            progress=progress)
