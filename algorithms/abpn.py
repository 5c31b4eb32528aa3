"""airmap:abpn — ABPN ×3 super-resolution in space (DeepCAMS S-SR), every band.

Same grid and band rules as airmap:bicubic: each cell split 3 × 3 over the same extent, all
bands processed, band names kept, no-data cells stay no-data.
"""
from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterNumber

from ..core.superres import SCALE, load_abpn, super_resolve
from ..provider.compat import FLAG_ADVANCED, NUMBER_INTEGER
from ..provider.parameters import (add_device, add_model_file, add_raster_input, add_raster_output, device_choice,
                                   model_path, threads_choice)
from .raster_method import RasterRefineAlgorithm


def add_tile(alg, name, description):
    param = QgsProcessingParameterNumber(name, alg.tr(description), NUMBER_INTEGER,
                                         defaultValue=None, optional=True, minValue=8)
    param.setFlags(param.flags() | FLAG_ADVANCED)
    alg.addParameter(param)


def add_conserve(alg):
    param = QgsProcessingParameterBoolean(
        "CONSERVE", alg.tr("Keep each input cell's mean (rescale every 3 x 3 block to it)"), defaultValue=True,
        optional=True)
    param.setFlags(param.flags() | FLAG_ADVANCED)
    alg.addParameter(param)


def conserve_choice(alg, parameters, context):
    """On unless CONSERVE is explicitly false (absent means the default, on)."""
    if parameters.get("CONSERVE") is None:
        return True
    return alg.parameterAsBoolean(parameters, "CONSERVE", context)


def optional_int(alg, parameters, name, context):
    if parameters.get(name) in (None, ""):
        return None
    return alg.parameterAsInt(parameters, name, context)


def report_model(feedback, model, what):
    feedback.pushInfo(f"{what}: {model.card['name']} ({model.path}), ONNX Runtime provider {model.provider}")


class AbpnAlgorithm(RasterRefineAlgorithm):
    ALG_ID = "abpn"
    DISPLAY_NAME = "ABPN ×3 super-resolution (DeepCAMS)"
    GROUP_ID = "deep"
    METHOD_LABEL = "ABPN x3"
    HELP = ("Attention-based back-projection network (DeepCAMS configuration, trained on the airmap "
            "simulator): splits every cell 3 x 3 over the input's extent, for every band. No-data "
            "cells stay no-data; values of non-negative inputs stay non-negative. Large rasters "
            "are processed in overlapping tiles (TILE, in input cells) so memory stays bounded. "
            "CONSERVE (on by default): every 3 x 3 block is rescaled to average to its input cell, "
            "which keeps the mass and stops rare overshoots at sharp hotspots; off gives the raw network. "
            "MODEL: another ABPN .onnx (e.g. one trained and exported with models/abpn); DEVICE: auto, cpu or cuda.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_raster_input(self, "Coarse raster (all bands)")
        add_raster_output(self, "OUTPUT", "Super-resolved raster (x3)")
        add_device(self)
        add_model_file(self, "MODEL", "ABPN model (.onnx; default: the shipped model)")
        add_tile(self, "TILE", "Tile size in input cells (default: the model card's)")
        add_conserve(self)

    def streamed_output(self, reader, parameters, context):
        return reader.grid.refined(SCALE), reader.band_names

    def refine_into(self, reader, write, parameters, context, feedback):
        # The input is read by band and window (the one normaliser over all bands, as in
        # training, comes from streaming passes); the output goes to the file tile row by tile row.
        from ..core.band_source import ReaderBands

        model = load_abpn(model_path(self, parameters, context), device_choice(self, parameters, context),
                          threads_choice(self, parameters, context))
        report_model(feedback, model, "ABPN")
        super_resolve(ReaderBands(reader), model, tile=optional_int(self, parameters, "TILE", context),
                      conserve=conserve_choice(self, parameters, context), progress=self.progress(feedback),
                      sink=write)
