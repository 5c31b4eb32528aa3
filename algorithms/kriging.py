"""airmap:kriging — ordinary kriging (PyKrige) with an optional kriging-variance raster."""
from qgis.core import QgsProcessingParameterEnum, QgsProcessingParameterNumber

from ..core.baselines.kriging import NEIGHBOURS, VARIOGRAMS
from ..provider.compat import NUMBER_INTEGER
from ..provider.parameters import add_raster_output, add_station_grid_parameters
from .station_method import StationGridAlgorithm


class KrigingAlgorithm(StationGridAlgorithm):
    ALG_ID = "kriging"
    DISPLAY_NAME = "Ordinary kriging (baseline)"
    GROUP_ID = "baselines"
    METHOD_LABEL = "kriging"
    HELP = ("Ordinary kriging of station values (PyKrige). The variogram model is fitted to the "
            "stations (20 lags); each cell is kriged from its N_NEIGHBOURS nearest stations (a moving "
            "neighbourhood). On a lon/lat grid distances are great-circle. VARIANCE_OUTPUT writes the "
            "kriging variance, a map of where the estimate is uncertain. Needs at least 3 stations.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_station_grid_parameters(self)
        self.addParameter(QgsProcessingParameterEnum(
            "VARIOGRAM", self.tr("Variogram model"), options=list(VARIOGRAMS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "N_NEIGHBOURS", self.tr("Krige each cell from its nearest N stations (0 = all stations)"),
            NUMBER_INTEGER, defaultValue=NEIGHBOURS, minValue=0))
        add_raster_output(self, "OUTPUT", "Kriging raster")
        add_raster_output(self, "VARIANCE_OUTPUT", "Kriging variance raster", optional=True)

    STREAMED = True

    def interpolate_into(self, stations, grid, parameters, context, progress, write):
        from ..core.baselines.kriging import kriging_rows

        variogram = VARIOGRAMS[self.parameterAsEnum(parameters, "VARIOGRAM", context)]
        neighbours = self.parameterAsInt(parameters, "N_NEIGHBOURS", context) or None
        for r0, est, var in kriging_rows(stations, grid, variogram=variogram, neighbours=neighbours,
                                         progress=progress):
            write("OUTPUT", r0, est)
            write("VARIANCE_OUTPUT", r0, var)
