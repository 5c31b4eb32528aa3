"""Startup script run INSIDE the real QGIS desktop (``qgis --code``) by tests/test_gui_desktop.py.

Environment: AIRMAP_GUI_OUT (folder for steps.log, result.json and screenshots),
AIRMAP_GUI_MODE ('full': dialogs, runs, screenshots; 'nopackages': the install offer only;
'install': click "Install dependencies", wait, then run kriging and PointConv from their
dialogs), AIRMAP_GUI_POINTS / AIRMAP_GUI_GEOTIFF / AIRMAP_GUI_NETCDF (layer sources), AIRMAP_GUI_MODEL
(an .onnx file for the model-file inputs).
Every step is appended to steps.log first, so a crash names the step it died in. The script
ends QGIS itself (os._exit) once result.json is written.
"""
import json
import os
import time
import traceback

from qgis.core import (QgsApplication, QgsLayerTreeLayer, QgsProcessingFeedback, QgsProject, QgsRasterLayer,
                       QgsSingleBandPseudoColorRenderer, QgsVectorLayer)
from qgis.PyQt.QtCore import QCoreApplication, QEventLoop, QTimer
from qgis.PyQt.QtWidgets import QDockWidget, QPlainTextEdit, QPushButton, QTabWidget
from qgis.utils import iface

OUT = os.environ["AIRMAP_GUI_OUT"]
MODE = os.environ.get("AIRMAP_GUI_MODE", "full")
RESULT = {"mode": MODE, "problems": [], "dialogs": {}, "layers": {}, "messages": []}
_steps = open(os.path.join(OUT, "steps.log"), "a", buffering=1)


def step(text):
    _steps.write(f"{time.strftime('%H:%M:%S')} {text}\n")
    _steps.flush()


def problem(text):
    step("PROBLEM " + text)
    RESULT["problems"].append(text)


def wait(ms):
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shot(widget, name, width=1100):
    image = widget.grab().toImage()
    if image.width() > width:
        image = image.scaledToWidth(width, 1)   # Qt.SmoothTransformation
    image.save(os.path.join(OUT, name))
    step(f"screenshot {name}")


def record_message(message, tag, level):
    RESULT["messages"].append([tag, int(level), message[:500]])


QgsApplication.messageLog().messageReceived.connect(record_message)


def log_panel_text():
    """What the Log Messages panel shows, per tab (also what was logged before this script)."""
    dock = iface.mainWindow().findChild(QDockWidget, "MessageLog")
    tabs = dock.findChild(QTabWidget) if dock is not None else None
    if tabs is None:
        return {}
    return {tabs.tabText(i): (tabs.widget(i).findChild(QPlainTextEdit) or tabs.widget(i)).toPlainText()
            if hasattr(tabs.widget(i).findChild(QPlainTextEdit) or tabs.widget(i), "toPlainText") else ""
            for i in range(tabs.count())}


def load_layers():
    layers = {}
    points = QgsVectorLayer(os.environ["AIRMAP_GUI_POINTS"], "cnemc", "delimitedtext")
    geotiff = QgsRasterLayer(os.environ["AIRMAP_GUI_GEOTIFF"], "cams geotiff")
    netcdf = QgsRasterLayer(os.environ["AIRMAP_GUI_NETCDF"], "cams netcdf")
    for key, layer in (("netcdf", netcdf), ("geotiff", geotiff), ("points", points)):
        if not layer.isValid():
            problem(f"layer {key} is not valid")
        QgsProject.instance().addMapLayer(layer)
        layers[key] = layer
    step("layers loaded: " + ", ".join(f"{k}={l.crs().authid() or 'no CRS'}" for k, l in layers.items()))
    return layers


def compatible(param, layers):
    """The layers a user could pick for ``param`` (by its type)."""
    kind = param.type()
    if kind == "raster":
        return [layers["geotiff"], layers["netcdf"]]
    if kind in ("source", "vector"):
        return [layers["points"]]
    if kind == "layer":
        return [layers["points"], layers["geotiff"], layers["netcdf"]]
    return []


# Values for the other inputs a user sets in the dialogs (layers come from compatible()).
OTHER_VALUES = {"extent": "70,136,15,55 [EPSG:4326]", "crs": "EPSG:3857", "file": os.environ.get("AIRMAP_GUI_MODEL")}


def set_value(wrapper, value, context):
    if hasattr(wrapper, "setParameterValue"):
        wrapper.setParameterValue(value, context)
    else:
        wrapper.setValue(value)


def exercise_dialog(alg_id, layers, active, screenshot=None):
    """Open the dialog (``active`` the project's active layer, which dialogs preselect), choose
    each compatible layer in each input, set the other inputs; read the field defaults."""
    import processing
    from qgis.core import QgsProcessingContext

    iface.setActiveLayer(active)
    step(f"dialog {alg_id}: open with {active.name()} active")
    dialog = processing.createAlgorithmDialog(alg_id)
    dialog.show()
    wait(150)
    panel = dialog.mainWidget()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    seen = {}
    for param in dialog.algorithm().parameterDefinitions():
        wrapper = panel.wrappers.get(param.name())
        for layer in compatible(param, layers):
            step(f"dialog {alg_id}: {param.name()} <- {layer.name()}")
            set_value(wrapper, layer, context)
            QCoreApplication.processEvents()
            seen.setdefault(param.name(), []).append(layer.name())
        if param.type() in OTHER_VALUES and wrapper is not None:
            step(f"dialog {alg_id}: {param.name()} <- {OTHER_VALUES[param.type()]}")
            set_value(wrapper, OTHER_VALUES[param.type()], context)
            QCoreApplication.processEvents()
            seen[param.name()] = wrapper.parameterValue() if hasattr(wrapper, "parameterValue") else None
        if param.type() == "field":
            parent = param.parentLayerParameterName()
            value = wrapper.parameterValue() if hasattr(wrapper, "parameterValue") else None
            seen[param.name()] = value if isinstance(value, str) and value else None
            step(f"dialog {alg_id}: {param.name()} (parent {parent}) = {seen[param.name()]}")
    if screenshot:
        # the station inputs back on the point layer for the picture
        for param in dialog.algorithm().parameterDefinitions():
            if param.type() in ("source", "vector"):
                set_value(panel.wrappers[param.name()], layers["points"], context)
        wait(300)
        shot(dialog, screenshot)
    RESULT["dialogs"][alg_id] = seen
    dialog.close()
    dialog.deleteLater()
    QCoreApplication.processEvents()
    step(f"dialog {alg_id}: closed")


class Feedback(QgsProcessingFeedback):
    """Collects errors (e.g. QGIS's 'layers were not correctly generated')."""

    def __init__(self):
        super().__init__()
        self.errors = []

    def reportError(self, error, fatalError=False):  # noqa: N802
        self.errors.append(error)


def run_and_load(alg_id, params):
    import processing

    step(f"run {alg_id}")
    feedback = Feedback()
    started = time.time()
    result = processing.runAndLoadResults(alg_id, params, feedback=feedback)
    step(f"run {alg_id}: {time.time() - started:.1f} s")
    for error in feedback.errors:
        problem(f"{alg_id} reported: {error}")
    return result


def run_from_dialog(alg_id, params, screenshot):
    import processing

    step(f"dialog run {alg_id}")
    dialog = processing.createAlgorithmDialog(alg_id, params)
    dialog.show()
    wait(500)
    dialog.runButton().click()
    deadline = time.time() + 600
    while not dialog.results() and time.time() < deadline:
        wait(500)
    wait(1000)
    step(f"dialog run {alg_id}: results {sorted(dialog.results())}")
    if not dialog.results():
        problem(f"{alg_id} gave no result from its dialog")
    shot(dialog, screenshot)
    dialog.close()


def describe_layers():
    root = QgsProject.instance().layerTreeRoot()
    order = [n.layerId() for n in root.findLayers()]
    out = {}
    for layer in QgsProject.instance().mapLayers().values():
        node = root.findLayer(layer.id())
        out[layer.name()] = {"position": order.index(layer.id()), "visible": node.isVisible(),
                             "pseudocolor": isinstance(layer, QgsRasterLayer) and
                             isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)}
    return out


def toolbox_screenshot():
    dock = iface.mainWindow().findChild(QDockWidget, "ProcessingToolbox")
    dock.show()
    dock.raise_()
    dock.searchBox.setText("airmap")   # filters on the algorithm ids, all airmap:*
    wait(300)
    dock.algorithmTree.expandAll()
    wait(300)
    shot(iface.mainWindow(), "toolbox.png")


def canvas_screenshot(main_name):
    canvas = iface.mapCanvas()
    layer = next(l for l in QgsProject.instance().mapLayers().values() if l.name() == main_name)
    root = QgsProject.instance().layerTreeRoot()
    for node in root.findLayers():   # the result alone, over its legend
        node.setItemVisibilityChecked(node.layerId() == layer.id())
        node.setExpanded(node.layerId() == layer.id())
    iface.setActiveLayer(layer)
    canvas.setExtent(layer.extent())
    dock = iface.mainWindow().findChild(QDockWidget, "ProcessingToolbox")
    dock.hide()
    canvas.refreshAllLayers()
    deadline = time.time() + 20
    wait(500)
    while canvas.isDrawing() and time.time() < deadline:
        wait(200)
    wait(300)
    shot(iface.mainWindow(), "canvas.png")


def install_offer():
    """The message bar item offering the install, with its button (or None)."""
    for item in iface.messageBar().items():
        for button in item.findChildren(QPushButton):
            if button.objectName() == "airmap_install_button":
                return item, button
    return None, None


def airmap_algorithms():
    provider = QgsApplication.processingRegistry().providerById("airmap")
    return sorted(a.id() for a in provider.algorithms()) if provider else []


def main():
    iface.mainWindow().resize(1280, 860)   # no window manager under Xvfb to maximise it
    RESULT["algorithms"] = airmap_algorithms()
    step(f"{len(RESULT['algorithms'])} airmap algorithms")
    item, button = install_offer()
    RESULT["install_offer"] = item.text() if item is not None and hasattr(item, "text") else (
        "button" if button is not None else None)
    if MODE == "nopackages":
        wait(300)
        shot(iface.mainWindow(), "nopackages.png")
        layers = load_layers()
        for alg_id in RESULT["algorithms"]:   # the dialogs open and fill without the packages too
            exercise_dialog(alg_id, layers, layers["geotiff"])
        return
    if MODE == "install":
        if button is None:
            problem("no install offer in the message bar")
            return
        step("click Install dependencies")
        button.click()
        deadline = time.time() + float(os.environ.get("AIRMAP_GUI_INSTALL_TIMEOUT", "1200"))
        import qgis.utils

        plugin = qgis.utils.plugins["airmap"]
        while plugin.task is not None and time.time() < deadline:
            wait(1000)
        wait(500)
        shot(iface.mainWindow(), "installed.png")

    layers = load_layers()
    if MODE == "install":   # as a user: the dialogs' Run button
        for alg_id, name in (("airmap:kriging", "install_kriging.png"), ("airmap:pointconv", "install_pointconv.png")):
            run_from_dialog(alg_id, {"INPUT": layers["points"]}, name)
        RESULT["layers"] = describe_layers()
        canvas_screenshot("cnemc kriging [µg/m³]")
        return
    if MODE == "full":
        toolbox_screenshot()
        for alg_id in RESULT["algorithms"]:
            for active in (layers["geotiff"], layers["netcdf"], layers["points"]):   # the hfsdf crash: a raster active
                exercise_dialog(alg_id, layers, active, screenshot="dialog.png" if alg_id == "airmap:kriging"
                                and active is layers["points"] else None)
    points = layers["points"]
    run_and_load("airmap:kriging", {"INPUT": points, "FIELD": "pm25", "PIXEL_SIZE": 0.25,
                                    "OUTPUT": "TEMPORARY_OUTPUT", "VARIANCE_OUTPUT": "TEMPORARY_OUTPUT"})
    run_and_load("airmap:pointconv", {"INPUT": points, "FIELD": "pm25", "PIXEL_SIZE": 0.25,
                                      "OUTPUT": "TEMPORARY_OUTPUT"})
    RESULT["layers"] = describe_layers()
    canvas_screenshot("cnemc kriging [µg/m³]")


def finish():
    try:
        main()
    except Exception:
        problem("script error: " + traceback.format_exc())
    try:
        RESULT["message_bar"] = [item.text() if hasattr(item, "text") else "" for item in iface.messageBar().items()]
        RESULT["log_panel"] = log_panel_text()
        with open(os.path.join(OUT, "result.json"), "w", encoding="utf-8") as fh:
            json.dump(RESULT, fh, indent=1, ensure_ascii=False, default=str)
        step("done")
    finally:
        _steps.close()
        os._exit(0)   # QGIS 3.22 can crash in its own exit after a session like this: leave at once


QTimer.singleShot(500, finish)
