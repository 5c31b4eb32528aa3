"""Registers the airmap Processing provider with QGIS (desktop) when the plugin loads."""
from qgis.core import QgsApplication


class AirmapPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        from .provider.provider import PROVIDER_ID, AirmapProvider

        registry = QgsApplication.processingRegistry()
        if registry.providerById(PROVIDER_ID) is not None:
            return  # already registered (e.g. by a script): the registry would delete a duplicate
        self.provider = AirmapProvider()
        registry.addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        from .core.onnx_runtime import clear_cache

        clear_cache()  # cached ONNX sessions hold their largest run's memory: free it with the plugin
