"""airmap:widetolong — a wide station table (one row per time, one column per station, as the
Beijing AQI-36 CSV) + a station layer -> a long-format point layer (one feature per station and
time) that airmap:spin, airmap:ignnk and QGIS's temporal controller read."""
from qgis.core import (QgsFeature, QgsFeatureSink, QgsGeometry, QgsPointXY, QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFile, QgsProcessingParameterString)

from ..core.errors import AirmapInputError, Cancelled
from ..provider.algorithm import AirmapAlgorithm
from ..provider.compat import SOURCE_POINT, WKB_POINT


class WideToLongAlgorithm(AirmapAlgorithm):
    ALG_ID = "widetolong"
    DISPLAY_NAME = "Wide station table to long-format series"
    GROUP_ID = "data"
    HELP = ("Turns a CSV table with one row per time and one column per station (the column names are station "
            "ids) into a point layer with one feature per station and time: fields station_id, time (date/time) "
            "and the value. The points are placed at the features of STATIONS whose STATION_ID_FIELD matches a "
            "column name; columns without a station are left out (the log names them). Empty cells are gaps and "
            "produce no feature. The result is what airmap:spin and airmap:ignnk read as INPUT, and the temporal "
            "controller can play it (Layer Properties > Temporal > single field with date/time: time).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile("INPUT", self.tr("Wide table (CSV)"), extension="csv"))
        self.addParameter(QgsProcessingParameterString(
            "TIME_COLUMN", self.tr("Time column (default: the first)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "STATIONS", self.tr("Station points"), [SOURCE_POINT]))
        self.addParameter(QgsProcessingParameterField(
            "STATION_ID_FIELD", self.tr("Station id field (values = the table's column names)"),
            parentLayerParameterName="STATIONS"))
        self.addParameter(QgsProcessingParameterString(
            "VALUE_NAME", self.tr("Name of the value field"), defaultValue="value"))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", self.tr("Long-format series"), SOURCE_POINT))

    def process(self, parameters, context, feedback):
        from ..core.timeseries.wide import long_records, read_wide_csv
        from ..provider.series_inputs import qdatetime, series_fields

        path = self.parameterAsFile(parameters, "INPUT", context)
        columns, times, values = read_wide_csv(path, self.parameterAsString(parameters, "TIME_COLUMN", context) or None)
        stations = self.parameterAsSource(parameters, "STATIONS", context)
        if stations is None:
            raise AirmapInputError("No station layer was given: choose the points of the table's stations.")
        id_field = self.parameterAsString(parameters, "STATION_ID_FIELD", context)
        idx = stations.fields().lookupField(id_field)
        if idx < 0:
            raise AirmapInputError(f"Field '{id_field}' is not in the station layer.")
        where = {}
        for f in stations.getFeatures():
            if f.geometry() is not None and not f.geometry().isEmpty():
                where[str(f.attribute(idx))] = f.geometry().asPoint()
        locations = {k: (p.x(), p.y()) for k, p in where.items()}
        records, missing = long_records(columns, times, values, locations)
        if missing:
            feedback.pushInfo(f"{len(missing)} column(s) have no station in the layer and were left out: "
                              f"{', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}.")
        value_name = self.parameterAsString(parameters, "VALUE_NAME", context) or "value"
        fields = series_fields("station_id", value_name)
        sink, dest = self.parameterAsSink(parameters, "OUTPUT", context, fields, WKB_POINT,
                                          stations.sourceCrs())
        for k, (sid, x, y, t, v) in enumerate(records):
            if k % 5000 == 0:
                feedback.setProgress(100.0 * k / len(records))
                if feedback.isCanceled():
                    raise Cancelled("Cancelled by the user.")
            f = QgsFeature(fields)
            f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
            f.setAttributes([sid, qdatetime(t), v])
            sink.addFeature(f, QgsFeatureSink.Flag.FastInsert)
        feedback.pushInfo(f"{len(records)} features: {len(columns) - len(missing)} stations x {times.size} times "
                          "(empty cells left out).")
        return {"OUTPUT": dest}
