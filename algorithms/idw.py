"""airmap:idw — inverse-distance weighting of station values onto a grid."""
from qgis.core import QgsProcessingParameterNumber

from ..core.baselines import idw
from ..provider.compat import NUMBER_DOUBLE, NUMBER_INTEGER
from ..provider.parameters import add_raster_output, add_station_grid_parameters
from .station_method import StationGridAlgorithm

DEFAULT_K = 12  # = core.baselines.idw.DEFAULT_K (kept literal: this module imports no scipy at load)


class IdwAlgorithm(StationGridAlgorithm):
    ALG_ID = "idw"
    DISPLAY_NAME = "IDW interpolation (baseline)"
    GROUP_ID = "baselines"
    METHOD_LABEL = "IDW"
    HELP = ("Inverse-distance weighting of station values onto a grid that starts at the extent's "
            "upper-left corner with square cells of PIXEL_SIZE. K_NEAREST (default 12; 0 = every station) "
            "and SEARCH_RADIUS keep it local; cells with no station within SEARCH_RADIUS are no-data. "
            "On a geographic CRS (any lon/lat datum) distances are great-circle and SEARCH_RADIUS is in "
            "degrees of arc.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_station_grid_parameters(self)
        self.addParameter(QgsProcessingParameterNumber(
            "POWER", self.tr("Distance power"), NUMBER_DOUBLE, defaultValue=2.0,
            minValue=0.1))
        self.addParameter(QgsProcessingParameterNumber(
            "K_NEAREST", self.tr("Use only the k nearest stations (0 = all)"),
            NUMBER_INTEGER, defaultValue=DEFAULT_K, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "SEARCH_RADIUS", self.tr("Search radius in target CRS units (empty = unlimited)"),
            NUMBER_DOUBLE, defaultValue=None, optional=True, minValue=0))
        add_raster_output(self, "OUTPUT", "IDW raster")

    def interpolate(self, stations, grid, parameters, context, progress):
        radius = parameters.get("SEARCH_RADIUS")
        return idw(stations, grid,
                   power=self.parameterAsDouble(parameters, "POWER", context),
                   k=self.parameterAsInt(parameters, "K_NEAREST", context) or None,
                   radius=self.parameterAsDouble(parameters, "SEARCH_RADIUS", context) if radius not in (None, "") else None,
                   progress=progress)
