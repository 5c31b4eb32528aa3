"""airmap QGIS plugin entry point. Kept import-light so core/ and models/ can be used without QGIS."""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    from .plugin import AirmapPlugin

    return AirmapPlugin(iface)
