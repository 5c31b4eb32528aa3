"""The airmap plugin in QGIS desktop: registers the Processing provider and, when QGIS's Python
lacks airmap's packages, offers to install them (message bar and Plugins menu)."""
import importlib
import os

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QProgressBar, QPushButton

from .provider import dependencies as deps
from .provider.proj_data import share_proj_database

MENU = "&airmap"
ICON = os.path.join(os.path.dirname(__file__), "icon.svg")


class AirmapPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.actions = []
        self.task = None
        self.bar_item = None
        from .provider.installer import profile_dir

        deps.activate(profile_dir())   # packages an earlier "Install dependencies" put there
        share_proj_database()          # again: rasterio may only now be importable (from there)

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        from .provider.provider import PROVIDER_ID, AirmapProvider

        registry = QgsApplication.processingRegistry()
        if registry.providerById(PROVIDER_ID) is not None:
            return  # already registered (e.g. by a script): the registry would delete a duplicate
        self.provider = AirmapProvider()
        registry.addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        if self.iface is None:
            return
        for text, kind in (("Install Python dependencies", "runtime"),
                           ("Install PyTorch (training and fine-tuning)", "torch"),
                           ("Install Dask and xarray (airmap:batch)", "archives")):
            action = QAction(QIcon(ICON), text, self.iface.mainWindow())
            action.setObjectName(f"airmap_install_{kind}")
            action.triggered.connect(lambda _=False, k=kind: self.install(k))
            self.iface.addPluginToMenu(MENU, action)
            self.actions.append(action)
        missing = deps.missing_packages()
        if missing:
            self._offer_install(missing)

    # --- message bar ----------------------------------------------------------------------
    def _push(self, widget, level, duration=0):
        bar = self.iface.messageBar()
        if self.bar_item is not None:
            try:
                bar.popWidget(self.bar_item)
            except RuntimeError:   # already closed by the user
                pass
        self.bar_item = bar.pushWidget(widget, level, duration)

    def _offer_install(self, missing):
        widget = self.iface.messageBar().createMessage(
            "airmap", f"needs Python packages that QGIS's Python lacks: {', '.join(missing)}.")
        button = QPushButton("Install dependencies", widget)
        button.setObjectName("airmap_install_button")
        button.clicked.connect(lambda: self.install("runtime"))
        widget.layout().addWidget(button)
        self._push(widget, Qgis.MessageLevel.Warning)

    def install(self, kind="runtime"):
        """Install the missing packages of set ``kind`` ('runtime' or 'torch') in the background."""
        from .provider.installer import PipInstallTask, log, profile_dir

        bar = self.iface.messageBar() if self.iface is not None else None
        if self.task is not None:
            if bar is not None:
                bar.pushMessage("airmap", "An installation is already running.", Qgis.MessageLevel.Info, 5)
            return None
        missing = deps.missing_modules(deps.PACKAGE_SETS[kind][0])
        if not missing:
            if bar is not None:
                bar.pushMessage("airmap", "Everything is already installed.", Qgis.MessageLevel.Success, 5)
            return None
        python = deps.python_executable()
        if python is None:
            message = ("QGIS's Python interpreter was not found, so airmap cannot run pip: install the "
                       f"packages of {deps.PACKAGE_SETS[kind][1]} with the pip of the Python QGIS uses.")
            log(message, Qgis.MessageLevel.Critical)
            if bar is not None:
                bar.pushMessage("airmap", message, Qgis.MessageLevel.Critical, 0)
            return None
        target = deps.site_dir(profile_dir(), kind)
        packages = ", ".join(deps.PACKAGE_SETS[kind][0][m][0] for m in missing)
        log(f"Installing {packages} with {python} into {target}")
        self.task = PipInstallTask(kind, missing, python, target)
        self.task.taskCompleted.connect(lambda: self._installed(kind, True))
        self.task.taskTerminated.connect(lambda: self._installed(kind, False))
        if bar is not None:
            widget = bar.createMessage("airmap", f"installing {packages} (details in the airmap log tab)...")
            progress = QProgressBar(widget)
            progress.setRange(0, 100)
            progress.setObjectName("airmap_install_progress")
            widget.layout().addWidget(progress)
            self.task.progressChanged.connect(lambda value: progress.setValue(int(value)))
            self._push(widget, Qgis.MessageLevel.Info)
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _installed(self, kind, ok):
        from .provider.installer import log, profile_dir

        task, self.task = self.task, None
        deps.activate(profile_dir())
        importlib.invalidate_caches()   # the folder may have been on sys.path already, now refilled
        still = deps.missing_packages(deps.PACKAGE_SETS[kind][0])
        if ok and not still:
            message = (f"Installed into {deps.site_dir(profile_dir(), kind)}: "
                       + ("airmap's algorithms are ready." if kind == "runtime" else "PyTorch is ready."))
            level = Qgis.MessageLevel.Success
            if self.provider is not None:
                self.provider.refreshAlgorithms()
        else:
            reason = task.error if task is not None and task.error else f"still missing: {', '.join(still)}"
            message = f"Installation failed: {reason} (the airmap log tab has pip's output)."
            level = Qgis.MessageLevel.Critical
        log(message, level)
        if self.iface is not None:
            widget = self.iface.messageBar().createMessage("airmap", message)
            self._push(widget, level, 0 if level == Qgis.MessageLevel.Critical else 15)

    def unload(self):
        if self.task is not None:
            self.task.cancel()
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
        self.actions = []
        if self.bar_item is not None and self.iface is not None:
            try:
                self.iface.messageBar().popWidget(self.bar_item)
            except RuntimeError:
                pass
            self.bar_item = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        from .core.onnx_runtime import clear_cache

        clear_cache()  # cached ONNX sessions hold their largest run's memory: free it with the plugin
