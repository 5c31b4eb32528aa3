"""airmap:finetunehfsdf — fit the HF-SDF decoder and latents to the user's maps (raster bands
with gaps as no-data, or dated station values); writes a new .onnx for airmap:hfsdf's MODEL."""
from qgis.core import QgsProcessingParameterFeatureSource, QgsProcessingParameterRasterLayer

from ..provider.compat import SOURCE_POINT
from ..provider.parameters import add_date_field, add_value_field
from .finetune_common import COMMON_HELP, FinetuneAlgorithm, raster_summary


class FinetuneHfsdfAlgorithm(FinetuneAlgorithm):
    ALG_ID = "finetunehfsdf"
    DISPLAY_NAME = "Fine-tune HF-SDF on your maps"
    FAMILY = "hfsdf"
    MODULE = "hfsdf"
    HELP = ("Adapts the coded HF-SDF decoder to your own maps, self-supervised: the decoder and one latent code "
            "per map are fitted to your observations with the model's training loss, no-data cells left out. "
            "INPUT: a raster whose bands are maps (gaps as no-data); or leave it empty and give STATIONS, a point "
            "layer, with FIELD (and DATE_FIELD for many maps in one layer). A random share of each map's observations (VALIDATION_FRACTION) is never "
            "used for training and is scored through airmap:hfsdf's own path (latent fit, root finding) before "
            "and after." + COMMON_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        # A raster INPUT and a separate station layer, as airmap:hfsdf: a field parameter whose
        # parent may be a raster crashes QGIS's dialog (QgsProcessingFieldWidgetWrapper).
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Maps: raster, bands = maps (or give station points below)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "STATIONS", self.tr("Station points (instead of a raster)"), [SOURCE_POINT], optional=True))
        add_value_field(self, "FIELD", "Station value field", parent="STATIONS", optional=True)
        add_date_field(self, parent="STATIONS")
        self.add_common_parameters()

    def default_model(self, parameters, context):
        from ..core.hfsdf import DEFAULT_MODEL

        return DEFAULT_MODEL

    def read_data(self, parameters, context, feedback):
        import numpy as np

        from ..core.hfsdf import Observations
        from ..core.hfsdf.latent import MIN_POINTS
        from ..provider.layers import crs_string, read_raster_layer, read_stations, station_points_input

        layer = self.parameterAsRasterLayer(parameters, "INPUT", context) if parameters.get("INPUT") else None
        if layer is not None:
            raster = read_raster_layer(layer, feedback)
            maps = [Observations.from_raster(band, raster.grid) for band in raster.data
                    if np.isfinite(band).sum() >= MIN_POINTS]
            skipped = raster.data.shape[0] - len(maps)
            if skipped:
                feedback.pushInfo(f"{skipped} band(s) with fewer than {MIN_POINTS} valid cells left out.")
            return (maps,), {}, raster_summary(raster, None), [raster.source]
        source, field, crs = station_points_input(self, parameters, context, "to learn from")
        date_field = self.parameterAsString(parameters, "DATE_FIELD", context) or None
        stations = read_stations(source, field, crs, context, feedback, group_field=date_field)
        days = stations.by_date()
        bounds = (float(stations.x.min()), float(stations.y.min()), float(stations.x.max()), float(stations.y.max()))
        maps = [Observations.from_stations(s, bounds) for s in days.values() if len(s) >= MIN_POINTS]
        dates = [d for d in days if d]
        layer = self.parameterAsVectorLayer(parameters, "STATIONS", context)
        path = layer.source() if layer is not None else str(parameters.get("STATIONS"))
        summary = {"input": path, "field": field, "crs": crs_string(crs), "extent": list(bounds),
                   "stations": len(stations), "first_date": min(dates) if dates else None,
                   "last_date": max(dates) if dates else None}
        return (maps,), {}, summary, [path]

    def checkParameterValues(self, parameters, context):  # noqa: N802
        if bool(parameters.get("INPUT")) == bool(parameters.get("STATIONS")):
            return False, self.tr("Give either a raster INPUT or STATIONS points (with their FIELD), not both.")
        return super().checkParameterValues(parameters, context)
