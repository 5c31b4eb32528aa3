"""What the four airmap:finetune* algorithms share: the common parameters (MODEL, MAX_MINUTES,
SEED, DEVICE, VALIDATION_FRACTION, OUTPUT_MODEL, OUTPUT_REPORT), the family check of MODEL,
the lazy bridge to the torch backend, and writing the model and its report so that a cancel or
a failure leaves neither behind.

Each family's module declares its data parameters and turns them into the arguments of its
``models/<family>/finetune.py`` protocol (``read_data``).
"""
import os

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer)

from ..core.errors import AirmapInputError
from ..core.finetune import TORCH_INSTALL, check_base_model, require_onnx_path, torch_module, write_report
from ..provider.algorithm import AirmapAlgorithm
from ..provider.compat import FLAG_ADVANCED, NUMBER_DOUBLE, NUMBER_INTEGER
from ..provider.parameters import (add_device, add_model_file, add_raster_input, device_choice, model_path,
                                   threads_choice)

COMMON_HELP = ("\n\nCommon parameters: MODEL, the .onnx to start from (empty = the shipped model); MAX_MINUTES, the "
               "wall-clock budget of the training loop; SEED; DEVICE (cpu, cuda or auto); VALIDATION_FRACTION, the "
               "share of your data held back to score the model before and after; OUTPUT_MODEL, the new .onnx (give "
               "it as MODEL to the model's algorithm); OUTPUT_REPORT, an HTML report with the learning curve, the "
               "before/after table and a data summary. The log has one line per epoch; cancelling writes nothing."
               "\n\nNeeds PyTorch in QGIS's Python (nothing else in airmap does): " + TORCH_INSTALL + ".")


class FinetuneAlgorithm(AirmapAlgorithm):
    GROUP_ID = "data"
    FAMILY = ""          # card task of the models this algorithm fine-tunes
    MODULE = ""          # models.<MODULE>: the torch protocol
    METRIC = "RMSE"

    # --- parameters --------------------------------------------------------------------
    def add_common_parameters(self):
        add_model_file(self, "MODEL", "Model to start from (.onnx; default: the shipped model)")
        self.addParameter(QgsProcessingParameterNumber(
            "MAX_MINUTES", self.tr("Training budget (minutes of wall clock)"), NUMBER_DOUBLE,
            defaultValue=10.0, minValue=0.01))
        self.addParameter(QgsProcessingParameterNumber(
            "SEED", self.tr("Random seed"), NUMBER_INTEGER, defaultValue=0, minValue=0,
            optional=True))
        add_device(self)
        self.addParameter(QgsProcessingParameterNumber(
            "VALIDATION_FRACTION", self.tr("Share of the data held back for validation"),
            NUMBER_DOUBLE, defaultValue=0.2, minValue=0.0, maxValue=0.9, optional=True))
        steps = QgsProcessingParameterNumber(
            "MAX_STEPS", self.tr("Stop after this many optimiser steps (0 = the time budget only)"),
            NUMBER_INTEGER, defaultValue=0, minValue=0, optional=True)
        steps.setFlags(steps.flags() | FLAG_ADVANCED)
        self.addParameter(steps)
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_MODEL", self.tr("Fine-tuned model"), fileFilter="ONNX model (*.onnx)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_REPORT", self.tr("Fine-tuning report"), fileFilter="HTML files (*.html)", optional=True,
            createByDefault=True))
        for name, label in (("STEPS", "Optimiser steps"), ("BEFORE", "Held-back score before"),
                            ("AFTER", "Held-back score after")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    # --- family hooks ------------------------------------------------------------------
    def default_model(self, parameters, context):
        raise NotImplementedError

    def read_data(self, parameters, context, feedback):
        """(positional arguments before ``out_path``, keyword arguments, data summary) of the
        protocol's ``finetune`` and the input files to protect."""
        raise NotImplementedError

    # --- run ---------------------------------------------------------------------------
    def options(self, parameters, context, base):
        from ..models.finetune import FinetuneOptions   # torch is importable here (checked first)

        fraction = parameters.get("VALIDATION_FRACTION")
        return FinetuneOptions(
            base_model=base,
            minutes=self.parameterAsDouble(parameters, "MAX_MINUTES", context),
            seed=self.parameterAsInt(parameters, "SEED", context) if parameters.get("SEED") is not None else 0,
            device=device_choice(self, parameters, context),
            threads=threads_choice(self, parameters, context),   # torch's, and ONNX Runtime's for the scoring
            validation_fraction=0.2 if fraction is None else self.parameterAsDouble(
                parameters, "VALIDATION_FRACTION", context),
            max_steps=(self.parameterAsInt(parameters, "MAX_STEPS", context) or None)
            if parameters.get("MAX_STEPS") is not None else None)

    def process(self, parameters, context, feedback):
        protocol = torch_module(f"{self.MODULE}.finetune", f"airmap:{self.ALG_ID}")
        base = model_path(self, parameters, context) or self.default_model(parameters, context)
        check_base_model(base, self.FAMILY)
        out_path = require_onnx_path(self.parameterAsFileOutput(parameters, "OUTPUT_MODEL", context))
        report = self.parameterAsFileOutput(parameters, "OUTPUT_REPORT", context)
        args, kwargs, summary, inputs = self.read_data(parameters, context, feedback)
        for path in [base] + list(inputs):
            if path and os.path.abspath(path) in (os.path.abspath(out_path), os.path.abspath(report or "")):
                raise AirmapInputError(f"The output '{path}' is one of the inputs: choose another output file.")
        options = self.options(parameters, context, base)
        feedback.pushInfo(f"Fine-tuning {os.path.basename(base)} for at most {options.minutes:g} min "
                          f"(seed {options.seed}, device {options.device}, {options.validation_fraction:.0%} held back).")
        os.makedirs(os.path.dirname(os.path.abspath(out_path)) or ".", exist_ok=True)
        part = out_path + ".part.onnx"
        self._written.append(part)   # removed on cancel or failure
        result = protocol.finetune(*args, part, options, summary=summary, progress=self.progress(feedback), **kwargs)
        os.replace(part, out_path)
        result.model_path = out_path
        self._written.append(out_path)
        outputs = {"OUTPUT_MODEL": out_path, "STEPS": result.steps,
                   "BEFORE": result.before.get(self.METRIC), "AFTER": result.after.get(self.METRIC)}
        if report:
            self._written.append(write_report(report, f"airmap:{self.ALG_ID}", result, self.METRIC))
            outputs["OUTPUT_REPORT"] = report
        feedback.pushInfo(f"Held-back {self.METRIC}: {outputs['BEFORE']} before, {outputs['AFTER']} after, "
                          f"{result.steps} steps in {result.minutes:.1f} min. Wrote {out_path}.")
        self._written = []   # complete: nothing to remove any more
        return outputs


def raster_inputs(alg, parameters, context, feedback):
    """INPUT and the optional REFERENCE as core Rasters (None when REFERENCE is not set)."""
    from ..provider.layers import read_raster_layer

    raster = read_raster_layer(alg.parameterAsRasterLayer(parameters, "INPUT", context), feedback)
    layer = alg.parameterAsRasterLayer(parameters, "REFERENCE", context) if parameters.get("REFERENCE") else None
    reference = read_raster_layer(layer, feedback) if layer is not None else None
    return raster, reference


def raster_summary(raster, reference):
    xmin, ymin, xmax, ymax = raster.grid.bounds
    summary = {"input": raster.source, "crs": raster.grid.crs, "extent": [xmin, ymin, xmax, ymax],
               "cell_size": abs(raster.grid.res[0]), "bands": int(raster.data.shape[0]),
               "first_band": raster.band_names[0] if raster.band_names else None,
               "last_band": raster.band_names[-1] if raster.band_names else None}
    if reference is not None:
        summary.update(reference=reference.source, reference_bands=int(reference.data.shape[0]))
    return summary


class RasterFinetuneAlgorithm(FinetuneAlgorithm):
    """ABPN and XVFI: a raster INPUT and an optional REFERENCE of true pairs."""

    INPUT_LABEL = ""
    REFERENCE_LABEL = ""
    DEFAULT_MODEL = ("", "")   # (core module, name of its default model path)

    def initAlgorithm(self, config=None):  # noqa: N802
        add_raster_input(self, self.INPUT_LABEL)
        self.addParameter(QgsProcessingParameterRasterLayer("REFERENCE", self.tr(self.REFERENCE_LABEL), optional=True))
        self.add_common_parameters()

    def default_model(self, parameters, context):
        import importlib

        module, name = self.DEFAULT_MODEL
        return getattr(importlib.import_module(f"..core.{module}", __package__), name)

    def read_data(self, parameters, context, feedback):
        raster, reference = raster_inputs(self, parameters, context, feedback)
        return ((raster.data,), {"reference": None if reference is None else reference.data},
                raster_summary(raster, reference), [raster.source, reference.source if reference else None])
