"""The 'Air pollution mapping' Processing provider (id ``airmap``)."""
import importlib
import inspect
import os
import pkgutil

from qgis.core import Qgis, QgsMessageLog, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithm import AirmapAlgorithm
from .dependencies import install_hint, missing_packages

PROVIDER_ID = "airmap"
_ALGORITHMS_PACKAGE = __package__.rsplit(".", 1)[0] + ".algorithms"


def discover_algorithms():
    """Every AirmapAlgorithm subclass with an id in algorithms/*.py, so adding a module is enough.
    A module that fails to import is logged and skipped: the rest of the toolbox still loads."""
    package = importlib.import_module(_ALGORITHMS_PACKAGE)
    found, errors = [], []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        try:
            module = importlib.import_module(f"{_ALGORITHMS_PACKAGE}.{info.name}")
        except Exception as exc:  # a broken optional algorithm must not hide the others
            errors.append(f"{info.name}: {exc}")
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, AirmapAlgorithm) and cls.ALG_ID and cls.__module__ == module.__name__:
                found.append(cls)
    return found, errors


class AirmapProvider(QgsProcessingProvider):
    def id(self):
        return PROVIDER_ID

    def name(self):
        return "Air pollution mapping"

    def longName(self):  # noqa: N802
        return "airmap: air pollution mapping"

    def icon(self):
        path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "icon.svg")
        return QIcon(path) if os.path.exists(path) else QgsProcessingProvider.icon(self)

    def loadAlgorithms(self):  # noqa: N802
        missing = missing_packages()
        if missing:
            QgsMessageLog.logMessage(install_hint(missing), "airmap", Qgis.MessageLevel.Critical)
        classes, errors = discover_algorithms()
        for err in errors:
            QgsMessageLog.logMessage(f"Algorithm not loaded: {err}", "airmap", Qgis.MessageLevel.Warning)
        for cls in classes:
            self.addAlgorithm(cls())
