"""airmap:batch — any airmap method over a long archive into one CF NetCDF or Zarr store, in
this process, on a local Dask cluster or on a user's Dask cluster (core/batch).

Imports of xarray/dask happen inside ``process`` (the plugin loads without them)."""
import json

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterString)

from ..core.errors import AirmapInputError
from ..provider.algorithm import AirmapAlgorithm

# Same order as core/batch/methods.METHODS (kept literal: that module is imported only to run).
METHOD_KEYS = ("bicubic", "abpn", "lineartime", "xvfi", "deepcams", "hfsdf", "idw", "kriging", "pointconv", "spin")


class BatchAlgorithm(AirmapAlgorithm):
    ALG_ID = "batch"
    DISPLAY_NAME = "Batch: a method over a long archive (Dask)"
    GROUP_ID = "data"
    HELP = ("Applies one airmap method to every time step of an archive and writes one CF-compliant NetCDF "
            "(.nc) or Zarr (.zarr) file: time coordinate, units, the CRS as grid_mapping, chunked by time.\n\n"
            "INPUT: a NetCDF/Zarr with a CF time axis (or NETCDF:\"file\":variable), a folder of single-band "
            "GeoTIFFs named by time, a multi-band raster whose band names are times, or (station methods) a "
            "long-format CSV table with one row per station and time.\n"
            "METHOD_PARAMETERS: the method's own parameters as JSON, with the names of its algorithm, e.g. "
            "{\"TILE\": 64} for abpn or {\"FIELD\": \"pm25\", \"PIXEL_SIZE\": 0.1} for idw.\n"
            "START / END: ISO dates that limit the time steps (inclusive; empty = all).\n"
            "SCHEDULER: empty = in this process; local:N = N worker processes on this machine; or the address "
            "of a running Dask scheduler (tcp://host:8786), e.g. one started with dask-kubernetes or "
            "dask-jobqueue. Workers must see INPUT and OUTPUT at the same paths (a shared file system).\n\n"
            "Each time chunk is recorded when it is written: if a run stops (cancel, crash), running it again "
            "with the same parameters computes only the missing chunks. The result equals running the method "
            "on each time step (time methods: each pair of steps) on its own; spin (a station table with a "
            "regular time axis, no wind) equals one SPIN run over the whole series.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterEnum("METHOD", self.tr("Method"), options=list(METHOD_KEYS),
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterString(
            "METHOD_PARAMETERS", self.tr("Method parameters (JSON, the method's own parameter names)"),
            defaultValue="{}", optional=True, multiLine=True))
        self.addParameter(QgsProcessingParameterString(
            "INPUT", self.tr("Archive (NetCDF/Zarr, GeoTIFF folder, multi-band raster or station CSV)")))
        self.addParameter(QgsProcessingParameterString("START", self.tr("First time (ISO, empty = first)"),
                                                       defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterString("END", self.tr("Last time (ISO, empty = last)"),
                                                       defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterString(
            "SCHEDULER", self.tr("Dask scheduler (empty = in-process, local:N, or tcp://host:8786)"),
            defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", self.tr("Output archive"), fileFilter="NetCDF (*.nc);;Zarr (*.zarr)"))
        self.addOutput(QgsProcessingOutputNumber("FRAMES", self.tr("Time steps written")))
        self.addOutput(QgsProcessingOutputNumber("SKIPPED_CHUNKS", self.tr("Chunks already finished (resumed)")))

    def process(self, parameters, context, feedback):
        try:
            from ..core.batch import run_batch
        except ImportError as exc:
            raise AirmapInputError(f"airmap:batch needs xarray, dask, distributed, zarr and netCDF4 ({exc}): install "
                                   "them into the Python QGIS uses (see requirements.txt), then restart QGIS.") from None

        method = METHOD_KEYS[self.parameterAsEnum(parameters, "METHOD", context)]
        method_parameters = method_parameters_from(self.parameterAsString(parameters, "METHOD_PARAMETERS", context))
        source = self.parameterAsString(parameters, "INPUT", context)
        output = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        if "." not in output.rsplit("/", 1)[-1]:
            output += ".nc"
        result = run_batch(method, source, output, method_parameters,
                           start=self.parameterAsString(parameters, "START", context) or None,
                           end=self.parameterAsString(parameters, "END", context) or None,
                           scheduler=self.parameterAsString(parameters, "SCHEDULER", context) or None,
                           progress=self.progress(feedback))
        feedback.pushInfo(f"{result.frames} time steps in {result.chunks} chunks ({result.computed} computed, "
                          f"{result.skipped} already finished) on {result.scheduler} in {result.seconds:.1f} s "
                          f"-> {result.output}")
        return {"OUTPUT": result.output, "FRAMES": result.frames, "SKIPPED_CHUNKS": result.skipped}


def method_parameters_from(text):
    """METHOD_PARAMETERS as a dict; a clear error for JSON that is not an object."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise AirmapInputError(f"METHOD_PARAMETERS is not valid JSON ({exc}): write e.g. {{\"TILE\": 64}}.") from None
    if not isinstance(value, dict):
        raise AirmapInputError("METHOD_PARAMETERS must be a JSON object such as {\"FACTOR\": 3}.")
    return value
