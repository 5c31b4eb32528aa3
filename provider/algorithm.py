"""Base class of every airmap Processing algorithm.

It gives each algorithm the same behaviour on failure: a core ``AirmapInputError`` or a
cancel becomes a ``QgsProcessingException`` with the fix in its message, and every file the
run wrote is removed, so no partial output is left behind.

It also lets a raster input be given as a GDAL subdataset string such as
``NETCDF:"/path/file.nc":pm25`` (see ``load_subdataset_inputs``).
"""
import os
import re

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingParameterRasterLayer,
                       QgsProcessingUtils, QgsRasterLayer)
from qgis.PyQt.QtCore import QCoreApplication

from ..core.errors import AirmapInputError, Cancelled
from ..core.progress import Progress
from .dependencies import missing_module_message

# DRIVER:"file":variable or DRIVER:file:variable (NETCDF, HDF5, HDF4_SDS, ...)
SUBDATASET = re.compile(r'^[A-Za-z0-9_]{2,}:"?(?P<file>[^"]+?)"?:(?P<variable>[^:"]+)$')

GROUPS = {
    "baselines": "Baselines",
    "deep": "Deep models",
    "evaluation": "Evaluation",
    "data": "Data and training",
}


class AirmapAlgorithm(QgsProcessingAlgorithm):
    ALG_ID = ""          # stable id: scripts and models call airmap:<ALG_ID>
    DISPLAY_NAME = ""
    GROUP_ID = "baselines"
    HELP = ""

    def __init__(self):
        super().__init__()
        self._written = []

    # --- identity ----------------------------------------------------------------------
    def tr(self, text):
        return QCoreApplication.translate("airmap", text)

    def name(self):
        return self.ALG_ID

    def displayName(self):  # noqa: N802
        return self.tr(self.DISPLAY_NAME)

    def groupId(self):  # noqa: N802
        return self.GROUP_ID

    def group(self):
        return self.tr(GROUPS[self.GROUP_ID])

    def shortHelpString(self):  # noqa: N802
        return self.tr(self.HELP)

    def createInstance(self):  # noqa: N802
        return type(self)()

    # --- checking inputs ---------------------------------------------------------------
    def checkParameterValues(self, parameters, context):  # noqa: N802
        problems = load_subdataset_inputs(self, parameters, context)
        if problems:
            return False, problems[0]
        return super().checkParameterValues(parameters, context)

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802
        # run() does not call checkParameterValues (e.g. a model's child algorithm): load here too
        load_subdataset_inputs(self, parameters, context)
        return True

    # --- running -----------------------------------------------------------------------
    def process(self, parameters, context, feedback):
        """Subclasses implement this instead of processAlgorithm (QGIS owns run())."""
        raise NotImplementedError

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        self._written = []
        try:
            return self.process(parameters, context, feedback)
        except Cancelled:
            message = "Cancelled: no output was written."
        except AirmapInputError as exc:
            message = str(exc)
        except ModuleNotFoundError as exc:   # a package of requirements.txt not installed yet
            message = missing_module_message(exc, self.id())
            if message is None:
                self._remove_written()
                raise
        except BaseException:
            self._remove_written()
            raise
        self._remove_written()
        # Raised outside the except block so the exception does not chain the core error's
        # traceback: its frames hold layers that must not outlive QGIS (a crash at exit).
        raise QgsProcessingException(message)

    def _remove_written(self):
        for path in self._written:
            if os.path.exists(path):
                os.remove(path)
        self._written = []

    def progress(self, feedback):
        """A core Progress bound to this run's feedback (0-100 %, cancel, log)."""
        if feedback is None:
            return Progress()
        return Progress(lambda f: feedback.setProgress(100.0 * f), feedback.isCanceled, feedback.pushInfo)

    def write_raster(self, path, data, grid, band_names=None, units=None, protect=()):
        """Write a GeoTIFF output and remember it, so a later failure removes it."""
        from ..core.raster_io import write_raster

        written = write_raster(path, data, grid, band_names=band_names, units=units, protect=protect)
        self._written.append(written)
        return written


def load_subdataset_inputs(alg, parameters, context):
    """Load raster inputs given as GDAL subdataset strings into the context's temporary layers.

    QGIS 3.22 resolves a raster parameter's string value only as a layer id/name/source
    already known to the project or context, or as an existing file path, so
    ``NETCDF:"file.nc":pm25`` is rejected ("Incorrect parameter value") although a
    QgsRasterLayer made from it is valid. Once such a layer is in the context's temporary
    store, the value check and ``parameterAsRasterLayer`` find it by its source. (A parameter
    subclass relaxing the value check alone would not do: ``parameterAsRasterLayer`` would
    still find no layer for the string.)
    Returns messages for subdataset strings of an existing file that GDAL cannot open.
    """
    problems = []
    for param in alg.parameterDefinitions():
        if param.type() != QgsProcessingParameterRasterLayer.typeName():
            continue
        value = parameters.get(param.name())
        if not isinstance(value, str) or os.path.exists(value):
            continue
        match = SUBDATASET.match(value)
        if not match or not os.path.exists(match.group("file")):
            continue
        if QgsProcessingUtils.mapLayerFromString(value, context, False, QgsProcessingUtils.LayerHint.Raster):
            continue    # already loaded (an earlier check of this run, or a project layer)
        name = f"{os.path.splitext(os.path.basename(match.group('file')))[0]} {match.group('variable')}"
        layer = QgsRasterLayer(value, name, "gdal")
        if layer.isValid():
            context.temporaryLayerStore().addMapLayer(layer)   # the store owns it for the run
        else:
            problems.append(f"{param.name()}: GDAL cannot open '{value}': check the variable name after the "
                            "last ':' (gdalinfo lists the file's variables), or pass the layer itself.")
    return problems
