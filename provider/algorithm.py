"""Base class of every airmap Processing algorithm.

It gives each algorithm the same behaviour on failure: a core ``AirmapInputError`` or a
cancel becomes a ``QgsProcessingException`` with the fix in its message, and every file the
run wrote is removed, so no partial output is left behind.
"""
import os

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication

from ..core.errors import AirmapInputError, Cancelled
from ..core.progress import Progress
from ..core.raster_io import write_raster

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
        written = write_raster(path, data, grid, band_names=band_names, units=units, protect=protect)
        self._written.append(written)
        return written
