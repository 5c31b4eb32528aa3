"""Styling of raster outputs loaded into the canvas: a perceptual colour ramp and the units
in the layer name. Applied only when QGIS loads the output (toolbox, modeler), not in scripts."""
from qgis.core import (QgsColorRampShader, QgsGradientColorRamp, QgsGradientStop,
                       QgsProcessingLayerPostProcessorInterface, QgsRasterShader,
                       QgsSingleBandPseudoColorRenderer, QgsStyle)
from qgis.PyQt.QtGui import QColor

from .compat import SHADER_LINEAR

# Viridis stops: perceptually uniform and readable by colour-blind users.
_VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
            "#6ece58", "#b5de2b", "#fde725"]
_KEEP_ALIVE = []  # QGIS holds post-processors by pointer: keep the Python objects alive


def concentration_ramp():
    ramp = QgsStyle.defaultStyle().colorRamp("Viridis")
    if ramp is not None:
        return ramp
    stops = [QgsGradientStop(i / (len(_VIRIDIS) - 1), QColor(c)) for i, c in enumerate(_VIRIDIS[1:-1], 1)]
    return QgsGradientColorRamp(QColor(_VIRIDIS[0]), QColor(_VIRIDIS[-1]), False, stops)


def apply_concentration_style(layer, band=1):
    """Pseudocolour over the band's min..max with the concentration ramp."""
    provider = layer.dataProvider()
    # All statistics (one pass): the only overload QGIS 3.40 does not mark deprecated
    stats = provider.bandStatistics(band)
    lo, hi = stats.minimumValue, stats.maximumValue
    if not hi > lo:
        hi = lo + 1.0
    shader_fn = QgsColorRampShader(lo, hi, concentration_ramp(), SHADER_LINEAR)
    shader_fn.classifyColorRamp(10, band)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    renderer = QgsSingleBandPseudoColorRenderer(provider, band, shader)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


class ConcentrationStyler(QgsProcessingLayerPostProcessorInterface):
    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if layer is not None and layer.isValid():
            apply_concentration_style(layer)


def style_on_load(context, output_path, layer_name):
    """If QGIS will load ``output_path`` after the run, name it and style it then."""
    if not output_path or not context.willLoadLayerOnCompletion(output_path):
        return False
    details = context.layerToLoadOnCompletionDetails(output_path)
    details.name = layer_name
    styler = ConcentrationStyler()
    _KEEP_ALIVE.append(styler)
    details.setPostProcessor(styler)
    return True
