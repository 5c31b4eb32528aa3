"""airmap:finetunepointconv — adapt the PointConv-UNet++ model to the user's station network by
the leave-stations-out game (hide stations of each day, predict them from the rest); writes a
new .onnx for airmap:pointconv's MODEL."""
from ..core.errors import AirmapInputError
from ..provider.method_inputs import (MET_LAYERS, add_covariate_parameters, add_met_station_parameters,
                                      met_station_sources, read_covariates)
from ..provider.parameters import add_date_field, add_station_grid_parameters
from .finetune_common import COMMON_HELP, FinetuneAlgorithm


class FinetunePointconvAlgorithm(FinetuneAlgorithm):
    ALG_ID = "finetunepointconv"
    DISPLAY_NAME = "Fine-tune PointConv on your station network"
    FAMILY = "pointconv"
    MODULE = "pointconv"
    HELP = ("Adapts the PointConv + UNet++ station-fusion model to your own station network, self-supervised: "
            "in every training step a random share of one day's stations is hidden and the model learns to "
            "predict them from the others, the leave-stations-out game you will judge it by. INPUT / FIELD: PM2.5 "
            "stations; DATE_FIELD (optional): one layer holding many days in long format (without it the layer is "
            "one day). DEM, URBAN, RH_INPUT/RH_FIELD and WIND_INPUT/WIND_FIELD as in airmap:pointconv (both met "
            "layers select the meteorological model; they are split by the same DATE_FIELD when they have it). "
            "EXTENT, PIXEL_SIZE and TARGET_CRS set the grid you will map on. A share of the station sites "
            "(VALIDATION_FRACTION) is never used for training and is scored through airmap:pointconv's own path "
            "before and after." + COMMON_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        add_station_grid_parameters(self, field_help="PM2.5 field")
        add_date_field(self)
        add_met_station_parameters(self)
        add_covariate_parameters(self)
        self.add_common_parameters()

    def default_model(self, parameters, context):
        from ..core.pointconv import default_model_path

        met = all(parameters.get(f"{key}_INPUT") for key, *_ in MET_LAYERS)
        return default_model_path("met" if met else "pm25")

    def _dated(self, source, field, date_field, crs, context, feedback):
        from ..provider.layers import read_stations

        if date_field and source.fields().lookupField(date_field) < 0:
            return None
        stations = read_stations(source, field, crs, context, feedback, group_field=date_field or None)
        return stations.by_date()

    def read_data(self, parameters, context, feedback):
        from ..provider.layers import require_overlap, stations_and_grid

        source = self.parameterAsSource(parameters, "INPUT", context)
        field = self.parameterAsString(parameters, "FIELD", context)
        date_field = self.parameterAsString(parameters, "DATE_FIELD", context) or None
        target, _, grid = stations_and_grid(self, parameters, context, source, field, feedback)
        days = self._dated(source, field, date_field, target, context, feedback)
        for day, stations in days.items():
            require_overlap(stations, grid)
        met = {}
        for name, layer, met_field in met_station_sources(self, parameters, context):
            met[name] = self._dated(layer, met_field, date_field, target, context, feedback) or \
                self._dated(layer, met_field, None, target, context, feedback)
        day_list = []
        for day, stations in days.items():
            entry = {"pm25": stations, "date": day}
            for name, by_day in met.items():
                entry[name] = by_day.get(day, by_day.get(None))
                if entry[name] is None:
                    raise AirmapInputError(f"The {name} layer has no stations on {day}: give it the same dates.")
            day_list.append(entry)
        feedback.pushInfo(f"{len(day_list)} day(s), {sum(len(d['pm25']) for d in day_list)} station values, grid "
                          f"{grid.width} x {grid.height} cells of {grid.res[0]:g} ({grid.crs}).")
        xmin, ymin, xmax, ymax = grid.bounds
        summary = {"input": source.sourceName(), "field": field, "crs": grid.crs, "extent": [xmin, ymin, xmax, ymax],
                   "pixel_size": abs(grid.res[0])}
        return ((day_list, grid), {"covariates": read_covariates(self, parameters, context, feedback)}, summary, [])
