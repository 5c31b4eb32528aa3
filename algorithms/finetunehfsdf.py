"""airmap:finetunehfsdf — fit the HF-SDF decoder and latents to the user's maps (raster bands
with gaps as no-data, or dated station values); writes a new .onnx for airmap:hfsdf's MODEL."""
from qgis.core import QgsProcessingParameterField, QgsProcessingParameterMapLayer, QgsRasterLayer, QgsVectorLayer

from ..core.errors import AirmapInputError
from ..provider.compat import FIELD_NUMERIC
from .finetune_common import COMMON_HELP, FinetuneAlgorithm, raster_summary
from .finetunepointconv import add_date_field, split_by_date


class FinetuneHfsdfAlgorithm(FinetuneAlgorithm):
    ALG_ID = "finetunehfsdf"
    DISPLAY_NAME = "Fine-tune HF-SDF on your maps"
    FAMILY = "hfsdf"
    MODULE = "hfsdf"
    HELP = ("Adapts the coded HF-SDF decoder to your own maps, self-supervised: the decoder and one latent code "
            "per map are fitted to your observations with the model's training loss, no-data cells left out. "
            "INPUT: a raster whose bands are maps (gaps as no-data), or a point layer with FIELD (and DATE_FIELD "
            "for many maps in one layer). A random share of each map's observations (VALIDATION_FRACTION) is never "
            "used for training and is scored through airmap:hfsdf's own path (latent fit, root finding) before "
            "and after." + COMMON_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterMapLayer("INPUT", self.tr("Maps: raster (bands = maps) or station points")))
        self.addParameter(QgsProcessingParameterField(
            "FIELD", self.tr("Value field (station points only)"), parentLayerParameterName="INPUT",
            type=FIELD_NUMERIC, optional=True))
        add_date_field(self)
        self.add_common_parameters()

    def default_model(self, parameters, context):
        from ..core.hfsdf import DEFAULT_MODEL

        return DEFAULT_MODEL

    def read_data(self, parameters, context, feedback):
        import numpy as np

        from ..core.hfsdf import Observations
        from ..core.hfsdf.latent import MIN_POINTS
        from ..provider.layers import crs_string, read_raster_layer, read_stations, require_valid_crs

        layer = self.parameterAsLayer(parameters, "INPUT", context)
        if isinstance(layer, QgsRasterLayer):
            raster = read_raster_layer(layer, feedback)
            maps = [Observations.from_raster(band, raster.grid) for band in raster.data
                    if np.isfinite(band).sum() >= MIN_POINTS]
            skipped = raster.data.shape[0] - len(maps)
            if skipped:
                feedback.pushInfo(f"{skipped} band(s) with fewer than {MIN_POINTS} valid cells left out.")
            return (maps,), {}, raster_summary(raster, None), [raster.source]
        if isinstance(layer, QgsVectorLayer):
            field = self.parameterAsString(parameters, "FIELD", context)
            if not field:
                raise AirmapInputError("Station points need a FIELD: choose the numeric field to learn from.")
            require_valid_crs(layer.crs(), "The station layer")
            date_field = self.parameterAsString(parameters, "DATE_FIELD", context) or None
            stations = read_stations(layer, field, layer.crs(), context, feedback, group_field=date_field)
            days = split_by_date(stations, stations.groups if date_field else None)
            bounds = (float(stations.x.min()), float(stations.y.min()), float(stations.x.max()), float(stations.y.max()))
            maps = [Observations.from_stations(s, bounds) for s in days.values() if len(s) >= MIN_POINTS]
            dates = [d for d in days if d]
            summary = {"input": layer.source(), "field": field, "crs": crs_string(layer.crs()), "extent": list(bounds),
                       "stations": len(stations), "first_date": min(dates) if dates else None,
                       "last_date": max(dates) if dates else None}
            return (maps,), {}, summary, [layer.source()]
        raise AirmapInputError("INPUT must be a raster or a point layer.")
