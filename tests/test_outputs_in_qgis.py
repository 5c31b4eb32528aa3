"""Outputs as a user meets them in QGIS (issue 10, items 1 and 3): field parameters never hang
from a raster-capable parent, value fields default to pollutant names, loaded layers are named
after the input, secondary layers sit below the main one unchecked, legends keep a sensible
precision, airmap:simulate loads its truth and stations, and each output is written once."""
import numpy as np
import pytest
from qgis.core import (QgsProcessingFeedback, QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterVectorLayer, QgsProject, QgsRasterLayer,
                       QgsSingleBandPseudoColorRenderer, QgsVectorLayer)

import processing
from airmap.provider.parameters import preferred_value_field
from airmap.provider.styling import legend_decimals
from helpers import make_point_layer, smooth_field


def test_field_parameters_hang_from_vector_only_parents(airmap_provider):
    """QGIS's field widget dereferences a null vector layer when the parent holds a raster
    (the airmap:hfsdf dialog crash): every field parent must accept vectors only."""
    checked = 0
    for alg in airmap_provider.algorithms():
        for param in alg.parameterDefinitions():
            if isinstance(param, QgsProcessingParameterField):
                parent = alg.parameterDefinition(param.parentLayerParameterName())
                assert isinstance(parent, (QgsProcessingParameterFeatureSource, QgsProcessingParameterVectorLayer)), \
                    f"{alg.id()} {param.name()} <- {parent.name()} ({parent.type()})"
                checked += 1
    assert checked >= 8


def test_value_field_default_prefers_pollutant_names():
    assert preferred_value_field(["site_id", "lon", "lat", "so2", "no2", "pm10", "pm25"]) == "pm25"
    assert preferred_value_field(["id", "PM2.5", "value"]) == "PM2.5"
    assert preferred_value_field(["station", "pm2_5"]) == "pm2_5"
    assert preferred_value_field(["code", "value"]) == "value"
    assert preferred_value_field(["site_id", "elevation"]) is None


def test_field_default_follows_the_project_layers(airmap_provider):
    layer = make_point_layer([(1.0, 1.0, 7, 20.0)], fields=(("site_id", "integer"), ("PM2_5", "double")))
    QgsProject.instance().addMapLayer(layer)
    try:
        alg = airmap_provider.algorithm("kriging").createInstance()
        alg.initAlgorithm({})
        assert alg.parameterDefinition("FIELD").defaultValue() == "PM2_5"
    finally:
        QgsProject.instance().removeAllMapLayers()


@pytest.mark.parametrize("lo, hi, decimals", [(6.6, 126.5, 0), (0, 1000, 0), (0.2, 0.9, 2),
                                              (1e-5, 9e-5, 6), (40, 40.5, 2)])
def test_legend_precision(lo, hi, decimals):
    assert legend_decimals(lo, hi) == decimals


def station_layer(name="network"):
    rng = np.random.default_rng(5)
    x, y = rng.uniform(100, 110, 60), rng.uniform(30, 38, 60)
    return make_point_layer([(float(a), float(b), float(c)) for a, b, c in zip(x, y, smooth_field(x, y))],
                            fields=(("pm25", "double"),), name=name)


def layer_order():
    return [node.layer() for node in QgsProject.instance().layerTreeRoot().findLayers()]


def test_kriging_variance_loads_below_unchecked_with_one_path_each(airmap_provider, tmp_path):
    project = QgsProject.instance()
    project.removeAllMapLayers()
    errors = []

    class Feedback(QgsProcessingFeedback):
        def reportError(self, error, fatalError=False):  # noqa: N802
            errors.append(error)

    res = processing.runAndLoadResults("airmap:kriging", {
        "INPUT": station_layer(), "FIELD": "pm25", "PIXEL_SIZE": 0.5, "OUTPUT": "TEMPORARY_OUTPUT",
        "VARIANCE_OUTPUT": "TEMPORARY_OUTPUT"}, feedback=Feedback())
    assert errors == []                                     # no "layers were not correctly generated"
    names = [layer.name() for layer in layer_order()]
    assert names == ["network kriging [µg/m³]", "network kriging variance [(µg/m³)²]"]
    main, variance = layer_order()
    assert main.source() == res["OUTPUT"] and variance.source() == res["VARIANCE_OUTPUT"]
    root = project.layerTreeRoot()
    assert root.findLayer(main.id()).isVisible() and not root.findLayer(variance.id()).isVisible()
    for layer in (main, variance):
        assert isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
        labels = [item.label for item in layer.renderer().shader().rasterShaderFunction().colorRampItemList()]
        assert all(len(label.split(".")[-1]) <= 3 for label in labels), labels
    project.removeAllMapLayers()


def test_hfsdf_confidence_below_the_map_and_stations_named(airmap_provider, tmp_path):
    project = QgsProject.instance()
    project.removeAllMapLayers()
    processing.runAndLoadResults("airmap:hfsdf", {
        "STATIONS": station_layer("sites"), "FIELD": "pm25", "PIXEL_SIZE": 0.5, "ITERATIONS": 2, "MAX_POINTS": 256,
        "OUTPUT": str(tmp_path / "map.tif"), "CONFIDENCE": str(tmp_path / "conf.tif")})
    names = [layer.name() for layer in layer_order()]
    assert names == ["sites HF-SDF [value]", "sites HF-SDF confidence |f| [value]"]
    assert not project.layerTreeRoot().findLayer(layer_order()[1].id()).isVisible()
    project.removeAllMapLayers()


def test_simulate_loads_its_truth_and_stations(airmap_provider, tmp_path):
    import warnings

    project = QgsProject.instance()
    project.removeAllMapLayers()
    with warnings.catch_warnings():   # a deprecated QGIS call (writeAsVectorFormatV2 on 3.22) fails here
        warnings.simplefilter("error", DeprecationWarning)
        processing.runAndLoadResults("airmap:simulate", {
            "EXTENT": "0,60000,0,60000 [EPSG:3857]", "PIXEL_SIZE": 5000, "DAYS": 1, "N_STATIONS": 10,
            "OUTPUT_FOLDER": str(tmp_path / "scenario")})
    layers = layer_order()
    assert [type(layer) for layer in layers] == [QgsVectorLayer, QgsRasterLayer]   # stations over the truth
    assert layers[0].featureCount() == 10 and layers[0].name() == "simulated stations seed 0"
    assert layers[1].name() == "simulated PM2.5 seed 0 daily truth [µg/m³]"
    assert isinstance(layers[1].renderer(), QgsSingleBandPseudoColorRenderer)
    project.removeAllMapLayers()


class LogFeedback(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, info):  # noqa: N802
        self.lines.append(info)


def test_every_model_logs_its_onnx_runtime_provider(airmap_provider, tmp_path):
    from airmap.core.grid import Grid
    from airmap.core.raster_io import write_raster

    coarse = str(tmp_path / "coarse.tif")
    grid = Grid.from_extent(100, 30, 104, 34, 0.25, "EPSG:4326")
    gx, gy = grid.cell_centres()
    write_raster(coarse, np.stack([smooth_field(gx, gy) + t for t in range(2)]).astype(np.float32), grid)
    runs = {"pointconv": {"INPUT": station_layer(), "FIELD": "pm25", "PIXEL_SIZE": 0.5},
            "abpn": {"INPUT": coarse}, "xvfi": {"INPUT": coarse}, "deepcams": {"INPUT": coarse},
            "hfsdf": {"INPUT": coarse, "ITERATIONS": 2, "MAX_POINTS": 128}}
    for alg, params in runs.items():
        feedback = LogFeedback()
        processing.run(f"airmap:{alg}", dict(params, OUTPUT="TEMPORARY_OUTPUT"), feedback=feedback)
        assert any("ONNX Runtime provider" in line and "ExecutionProvider" in line for line in feedback.lines), alg


def test_legend_band_line_shows_units_not_the_colour_interpretation(airmap_provider, tmp_path):
    from qgis.core import QgsLayerTreeModel, QgsMapLayerLegendUtils

    project = QgsProject.instance()
    project.removeAllMapLayers()
    processing.runAndLoadResults("airmap:idw", {"INPUT": station_layer(), "FIELD": "pm25", "PIXEL_SIZE": 0.5,
                                                "UNITS": "ppb", "OUTPUT": str(tmp_path / "idw.tif")})
    node = project.layerTreeRoot().findLayers()[0]
    assert QgsMapLayerLegendUtils.legendNodeUserLabel(node, 0) == "ppb"
    model = QgsLayerTreeModel(project.layerTreeRoot())
    labels = [n.data(0) for n in model.layerLegendNodes(node)]
    assert labels[0] == "ppb" and not any("(Gray)" in str(label) for label in labels), labels
    project.removeAllMapLayers()
