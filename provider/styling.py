"""Styling of raster outputs loaded into the canvas: a perceptual colour ramp, legend labels with
a sensible precision, the input and units in the layer name, and secondary outputs (variance,
confidence) placed below the main result and unchecked. Applied only when QGIS loads the output
(toolbox, modeler), not in scripts."""
import math
import os

from qgis.core import (QgsBasicNumericFormat, QgsColorRampShader, QgsGradientColorRamp, QgsGradientStop,
                       QgsLayerTreeLayer, QgsMapLayerLegendUtils, QgsProcessingLayerPostProcessorInterface,
                       QgsProject, QgsRasterShader, QgsSingleBandPseudoColorRenderer, QgsStyle)
from qgis.PyQt.QtGui import QColor

from .compat import SHADER_LINEAR

# Viridis stops: perceptually uniform and readable by colour-blind users.
_VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
            "#6ece58", "#b5de2b", "#fde725"]
_KEEP_ALIVE = []  # QGIS holds post-processors by pointer: keep the Python objects alive
_WAITING_BELOW = {}  # main output path -> ids of secondary layers loaded before it
LEGEND_CLASSES = 10  # colour-ramp classes, and so legend labels


def concentration_ramp():
    ramp = QgsStyle.defaultStyle().colorRamp("Viridis")
    if ramp is not None:
        return ramp
    stops = [QgsGradientStop(i / (len(_VIRIDIS) - 1), QColor(c)) for i, c in enumerate(_VIRIDIS[1:-1], 1)]
    return QgsGradientColorRamp(QColor(_VIRIDIS[0]), QColor(_VIRIDIS[-1]), False, stops)


def legend_decimals(lo, hi, classes=LEGEND_CLASSES):
    """Decimal places that show the first significant digit of the step between ``classes``
    legend classes over lo..hi (126.5 µg/m³ not 126.512345, but 3.4e-05 mol/m² not 0)."""
    span = abs(hi - lo) or abs(hi) or 1.0
    return int(min(12, max(0, -math.floor(math.log10(span / classes)))))


def apply_concentration_style(layer, band=1):
    """Pseudocolour over the band's min..max with the concentration ramp."""
    provider = layer.dataProvider()
    # All statistics (one pass): the only overload QGIS 3.40 does not mark deprecated
    stats = provider.bandStatistics(band)
    lo, hi = stats.minimumValue, stats.maximumValue
    if not hi > lo:
        hi = lo + 1.0
    shader_fn = QgsColorRampShader(lo, hi, concentration_ramp(), SHADER_LINEAR)
    shader_fn.classifyColorRamp(LEGEND_CLASSES, band)
    decimals = legend_decimals(lo, hi)
    items = shader_fn.colorRampItemList()
    for item in items:
        item.label = f"{item.value:.{decimals}f}"
    shader_fn.setColorRampItemList(items)
    if hasattr(shader_fn, "legendSettings"):   # QGIS >= 3.18: the continuous legend's labels
        settings = shader_fn.legendSettings()
        number = QgsBasicNumericFormat()
        number.setNumberDecimalPlaces(decimals)
        number.setShowTrailingZeros(False)
        settings.setNumericFormat(number)
        shader_fn.setLegendSettings(settings)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    renderer = QgsSingleBandPseudoColorRenderer(provider, band, shader)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def _tree_node(project, layer_id):
    return project.layerTreeRoot().findLayer(layer_id) if layer_id else None


def label_band_with_units(project, layer, units):
    """The legend's band line shows the units (else the band's name) instead of GDAL's
    colour interpretation: 'Band 1: pm25 kriging (Gray)'."""
    node = _tree_node(project, layer.id())
    if node is not None:
        QgsMapLayerLegendUtils.setLegendNodeUserLabel(node, 0, units or layer.bandName(1))


def place_below(project, layer_id, main_id):
    """Move layer ``layer_id`` just below ``main_id`` in the layer tree, unchecked."""
    node, main = _tree_node(project, layer_id), _tree_node(project, main_id)
    if node is None or main is None:
        return False
    parent = main.parent()
    index = next(i for i, child in enumerate(parent.children())
                 if isinstance(child, QgsLayerTreeLayer) and child.layerId() == main_id)
    moved = node.clone()
    moved.setItemVisibilityChecked(False)
    parent.insertChildNode(index + 1, moved)
    node.parent().removeChildNode(node)
    return True


def _same_file(a, b):
    return bool(a and b) and os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


class ConcentrationStyler(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, path, project, units=None, below=None):
        super().__init__()
        self.path, self.project, self.units, self.below = path, project, units, below

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if layer is None or not layer.isValid():
            return
        project = self.project or QgsProject.instance()
        label_band_with_units(project, layer, self.units)   # before the renderer: its change rebuilds the legend
        apply_concentration_style(layer)
        if self.below:   # a secondary output: below its main layer, which may load before or after it
            main = next((lyr for lyr in project.mapLayers().values() if _same_file(lyr.source(), self.below)), None)
            if main is None or not place_below(project, layer.id(), main.id()):
                node = _tree_node(project, layer.id())
                if node is not None:
                    node.setItemVisibilityChecked(False)
                _WAITING_BELOW.setdefault(self.below, []).append(layer.id())
        for waiting in _WAITING_BELOW.pop(self.path, []):
            place_below(project, waiting, layer.id())


def input_name(alg, parameters, name, context, fallback):
    """The name of the layer given as ``name`` (a layer, an id or a file), for output names."""
    value = parameters.get(name)
    layer = alg.parameterAsLayer(parameters, name, context) if value else None
    return layer.name() if layer is not None else fallback


def style_on_load(context, output_path, layer_name, units=None, below=None):
    """If QGIS will load ``output_path`` after the run, name it and style it then; ``below``:
    the path of the main output this secondary one goes under (unchecked)."""
    if not output_path or not context.willLoadLayerOnCompletion(output_path):
        return False
    details = context.layerToLoadOnCompletionDetails(output_path)
    details.name = layer_name
    if below and hasattr(details, "layerSortKey"):
        # QGIS >= 3.32 adds a run's layers in sort-key order (default 0) above the selected layer
        # and the last one added stays selected: secondary outputs first, so the next run's layers
        # go above the main layer, not into the gap between it and its secondary ones (output
        # paths alone order them at random)
        details.layerSortKey = -1
    styler = ConcentrationStyler(output_path, details.project, units, below)
    _KEEP_ALIVE.append(styler)
    details.setPostProcessor(styler)
    return True
