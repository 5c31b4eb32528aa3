"""airmap:hfsdf — HF-SDF: a continuous map at any pixel size from a coarse or gappy raster or
from station points (seed 000). Computation lives in core/hfsdf; this module reads the layer,
builds the grid and writes the outputs."""
from contextlib import nullcontext

import numpy as np
from qgis.core import (QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString, QgsRectangle)

from ..core.errors import AirmapInputError
from ..core.hfsdf import MODES, SURFACES, Observations, load_decoder, reconstruct
from ..provider.algorithm import AirmapAlgorithm
from ..provider.compat import FLAG_ADVANCED, NUMBER_INTEGER, SOURCE_POINT
from ..provider.layers import (crs_string, grid_from_parameters, open_raster_layer, read_stations, require_data,
                               require_valid_crs, station_points_input, target_crs_from)
from ..provider.parameters import (add_device, add_grid_parameters, add_model_file, add_raster_output, add_value_field,
                                   device_choice, model_path, threads_choice)
from ..provider.styling import input_name, style_on_load
from .abpn import report_model

SURFACE_LABELS = ["root finding along the height axis (fast)", "marching cubes (the paper's read-out)"]
MODE_LABELS = ["coded: fit a latent code of the shipped model (ONNX only)",
               "single-map: train a network on this map (needs PyTorch)"]


def _advanced(param):
    param.setFlags(param.flags() | FLAG_ADVANCED)
    return param


class HfsdfAlgorithm(AirmapAlgorithm):
    ALG_ID = "hfsdf"
    DISPLAY_NAME = "HF-SDF continuous map at any resolution"
    GROUP_ID = "deep"
    METHOD_LABEL = "HF-SDF"
    HELP = ("Height-field signed distance function (Zhang et al., npj Clim Atmos Sci 2025): the map "
            "is the surface f(x, y, value) = 0 of a neural implicit function, so it can be read at "
            "any PIXEL_SIZE over any EXTENT, and gaps (no-data, clouds) are filled by the surface. "
            "INPUT: a raster (coarse and/or with no-data gaps; BAND chooses the band), or leave it "
            "empty and give STATIONS, a point layer, with its numeric FIELD. Values are scaled into "
            "a unit cube, so any units and "
            "magnitudes work; the output is in the input's units. MODE coded (default) fits the "
            "latent code of the shipped decoder, trained on the airmap simulator, with ONNX Runtime "
            "alone; MODE single-map trains a small network on this map with PyTorch. SURFACE: root "
            "finding (a few queries per pixel) or the paper's marching cubes (MC_LEVELS queries per "
            "pixel). CONFIDENCE writes |f| at the read-out surface in the input's units: near 0 "
            "where the surface was found exactly.")

    def initAlgorithm(self, config=None):  # noqa: N802
        # A raster INPUT and a separate station layer: a field parameter whose parent may be a
        # raster crashes QGIS's dialog (QgsProcessingFieldWidgetWrapper assumes a vector parent).
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", self.tr("Coarse or gappy raster (or give station points below)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "STATIONS", self.tr("Station points (instead of a raster)"), [SOURCE_POINT],
            optional=True))
        add_value_field(self, "FIELD", "Station value field", parent="STATIONS", optional=True)
        self.addParameter(QgsProcessingParameterNumber(
            "BAND", self.tr("Band (raster input)"), NUMBER_INTEGER, defaultValue=1,
            minValue=1, optional=True))
        add_grid_parameters(self)
        self.addParameter(QgsProcessingParameterEnum(
            "MODE", self.tr("Mode"), options=MODE_LABELS, defaultValue=0, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "SURFACE", self.tr("Surface read-out"), options=SURFACE_LABELS, defaultValue=0, optional=True))
        add_raster_output(self, "OUTPUT", "HF-SDF map")
        add_raster_output(self, "CONFIDENCE", "|f| at the surface (confidence layer)", optional=True)
        add_device(self)
        add_model_file(self, "MODEL", "HF-SDF coded model (.onnx; default: the shipped model)")
        self.addParameter(QgsProcessingParameterString(
            "UNITS", self.tr("Units (default: the raster's; for the layer name)"), optional=True))
        for name, label, default, lo in (
                ("ITERATIONS", "Latent fitting iterations (Levenberg-Marquardt)", 20, 1),
                ("STEPS", "Root-finding steps per pixel", 8, 1),
                ("MC_LEVELS", "Marching-cubes height levels", 128, 4),
                ("MAX_POINTS", "Observations used for fitting at most", 2048, 16),
                ("SINGLE_MAP_ITERATIONS", "Single-map training iterations", 800, 10),
                ("SEED", "Random seed", 0, 0)):
            self.addParameter(_advanced(QgsProcessingParameterNumber(
                name, self.tr(label), NUMBER_INTEGER, defaultValue=default, minValue=lo,
                optional=True)))

    # --- inputs ---------------------------------------------------------------------------
    def checkParameterValues(self, parameters, context):  # noqa: N802
        if bool(parameters.get("INPUT")) == bool(parameters.get("STATIONS")):
            return False, self.tr("Give either a raster INPUT or STATIONS points (with their FIELD), not both.")
        return super().checkParameterValues(parameters, context)

    def _observations(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context) if parameters.get("INPUT") else None
        if layer is not None:
            band = self.parameterAsInt(parameters, "BAND", context)
            with open_raster_layer(layer, feedback) as reader:   # only BAND is read
                if band > reader.count:
                    raise AirmapInputError(f"BAND {band} does not exist: '{layer.name()}' has "
                                           f"{reader.count} band(s).")
                data, grid, units = reader.read(band), reader.grid, reader.units
                label = reader.band_names[band - 1] if reader.band_names else layer.name()
            require_data(np.isfinite(data).any(), layer.name())
            if grid.crs is None:
                raise AirmapInputError(f"'{layer.name()}' has no CRS: set one (Layer Properties > Source).")
            obs = Observations.from_raster(data, grid)
            return obs, grid.crs, QgsRectangle(*grid.bounds), units, grid.res[0], label
        source, field, crs = station_points_input(self, parameters, context, "to map")
        stations = read_stations(source, field, crs, context, feedback)
        obs = Observations.from_stations(stations)
        box = QgsRectangle(*obs.bounds)
        box.grow(max(box.width(), box.height()) * 0.02)
        return obs, crs_string(crs), box, None, None, field

    # --- run ------------------------------------------------------------------------------
    def process(self, parameters, context, feedback):
        obs, src_crs, default_box, units, _, label = self._observations(parameters, context, feedback)
        from ..provider.layers import qgs_crs

        src_qcrs = qgs_crs(src_crs)
        target = target_crs_from(self, parameters, context, src_qcrs)
        require_valid_crs(target, "The output grid")
        grid = grid_from_parameters(self, parameters, context, target, default_box, src_qcrs)
        obs = obs.reprojected(src_crs, crs_string(target))
        mode = MODES[self.parameterAsEnum(parameters, "MODE", context)]
        surface = SURFACES[self.parameterAsEnum(parameters, "SURFACE", context)]
        conf_path = self.parameterAsOutputLayer(parameters, "CONFIDENCE", context)
        out_path = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        units = self.parameterAsString(parameters, "UNITS", context) or units or ""
        decoder = None
        if mode == "coded":
            decoder = load_decoder(model_path(self, parameters, context),
                                   device_choice(self, parameters, context), threads_choice(self, parameters, context))
            report_model(feedback, decoder.model, "HF-SDF")
        feedback.pushInfo(f"{obs.values.size} observations -> grid of {grid.width} x {grid.height} cells of "
                          f"{grid.res[0]:g} ({grid.crs}); mode {mode}, read-out {surface}.")
        integer = lambda name: self.parameterAsInt(parameters, name, context)
        name = f"{label} HF-SDF"
        from ..core.raster_io import RasterWriter  # rasterio: see provider/__init__.py

        # The map goes to the files strip by strip as it is read out (any PIXEL_SIZE, bounded memory).
        with RasterWriter(out_path, grid, 1, [name], units or None) as values, \
                (RasterWriter(conf_path, grid, 1, [f"{name} |f|"], units or None) if conf_path else nullcontext()) as conf:
            def sink(r0, rows, residual):
                values.write(0, r0, rows)
                if conf is not None:
                    conf.write(0, r0, residual)

            result = reconstruct(obs, grid, mode=mode, surface=surface, decoder=decoder,
                                 confidence=bool(conf_path), seed=integer("SEED"),
                                 max_points=integer("MAX_POINTS"), iterations=integer("ITERATIONS"),
                                 steps=integer("STEPS"), mc_levels=integer("MC_LEVELS"),
                                 single_map_iterations=integer("SINGLE_MAP_ITERATIONS"),
                                 progress=self.progress(feedback), sink=sink)
        self._written += [values.target] + ([conf.target] if conf is not None else [])
        info = result.info
        feedback.pushInfo(f"fit {info['fit_seconds']:.1f} s" + (f" (loss {info['fit_loss']:.4g})" if 'fit_loss' in info else "")
                          + f", read-out {info['readout_seconds']:.1f} s ({info['queries']} queries).")
        given = "INPUT" if parameters.get("INPUT") else "STATIONS"
        shown = f"{input_name(self, parameters, given, context, label)} HF-SDF"
        style_on_load(context, out_path, f"{shown} [{units or 'value'}]", units=units)
        outputs = {"OUTPUT": out_path}
        if conf_path:
            style_on_load(context, conf_path, f"{shown} confidence |f| [{units or 'value'}]", units=units,
                          below=out_path)
            outputs["CONFIDENCE"] = conf_path
        return outputs
