"""Helpers shared by tests (import as ``from helpers import ...``)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def run_plugin_script(code, timeout=120, **env):
    """Run Python source ``code`` in a fresh interpreter that imports the plugin as ``airmap``
    (``env`` added to this process's environment); returns the CompletedProcess, text output."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(REPO / ".pkg"), **env)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


def run_under_memory_cap(body, extra_mb, **values):
    """Run ``body`` (Python source; ``{whole}`` and ``values`` are formatted in) twice in a
    fresh interpreter whose data segment is capped at ``extra_mb`` MiB above its start-up
    footprint: with whole=True (the whole-array path, which must fail with MemoryError) and
    whole=False (the streamed path, which must finish and print "done")."""
    import subprocess
    import sys

    # RLIMIT_DATA caps the data segment and private mappings: start from what the process maps
    # once its imports are done (ru_maxrss would not do: Linux carries the parent's peak across
    # fork and exec).
    cap = ("import resource\n"
           "with open('/proc/self/status') as fh:\n"
           "    used = next(int(line.split()[1]) * 1024 for line in fh if line.startswith('VmData:'))\n"
           f"resource.setrlimit(resource.RLIMIT_DATA, (used + {int(extra_mb)} * 2**20,) * 2)\n")
    head, _, tail = body.partition("# CAP\n")
    results = []
    for whole in (True, False):
        code = f"import sys\nsys.path.insert(0, {str(REPO / '.pkg')!r})\n" + head + cap + tail.format(whole=whole, **values)
        results.append(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600))
    capped_whole, streamed = results
    assert capped_whole.returncode != 0 and "MemoryError" in capped_whole.stderr, capped_whole.stderr  # the cap bites
    assert streamed.returncode == 0 and "done" in streamed.stdout, streamed.stderr


def make_point_layer(points, crs="EPSG:4326", fields=(("value", "double"),), name="stations"):
    """Memory point layer; ``points`` is a list of (x, y, *attribute values)."""
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    field_spec = "&".join(f"field={n}:{t}" for n, t in fields)
    uri = f"Point?crs={crs}&{field_spec}" if crs else f"Point?{field_spec}"
    layer = QgsVectorLayer(uri, name, "memory")
    assert layer.isValid()
    feats = []
    for x, y, *attrs in points:
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
        f.setAttributes(list(attrs))
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    layer.updateExtents()
    return layer


def smooth_field(x, y):
    """A known smooth concentration field used by several tests (µg/m³)."""
    import numpy as np

    return 40 + 15 * np.sin(np.asarray(x) / 3.0) + 10 * np.cos(np.asarray(y) / 4.0)


def smooth_field_stations(n=150, seed=2):
    """(x, y, values) of ``n`` random stations on ``smooth_field`` over lon 100-110, lat 30-38."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(100, 110, n)
    y = rng.uniform(30, 38, n)
    return x, y, smooth_field(x, y)


def station_layer_from(x, y, values):
    """Memory point layer (EPSG:4326, field 'value') from station arrays."""
    return make_point_layer([(float(a), float(b), float(c)) for a, b, c in zip(x, y, values)])


def chain_model(name, steps, raster_input=None, output="fine"):
    """A graphical model running ``steps`` in a chain: (algorithm id, child id, {parameter: static
    value}) each; a step's INPUT is the previous step's OUTPUT, the first step's is the model's
    raster parameter ``raster_input`` (when given), the last step's OUTPUT is the model output
    ``output`` (run it under the name ``model_output(model, output)``)."""
    from qgis.core import (QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                           QgsProcessingModelParameter, QgsProcessingParameterRasterLayer)

    source = QgsProcessingModelChildParameterSource
    model = QgsProcessingModelAlgorithm(name, "tests")
    if raster_input:
        model.addModelParameter(QgsProcessingParameterRasterLayer(raster_input, raster_input),
                                QgsProcessingModelParameter(raster_input))
    previous = None
    for i, (alg_id, child_id, statics) in enumerate(steps):
        child = QgsProcessingModelChildAlgorithm(alg_id)
        child.setChildId(child_id)
        if previous is not None:
            child.addParameterSources("INPUT", [source.fromChildOutput(previous, "OUTPUT")])
        elif raster_input:
            child.addParameterSources("INPUT", [source.fromModelParameter(raster_input)])
        for param, value in statics.items():
            child.addParameterSources(param, [source.fromStaticValue(value)])
        if i == len(steps) - 1:
            out = QgsProcessingModelOutput(output, output)
            out.setChildOutputName("OUTPUT")
            child.setModelOutputs({output: out})
        model.addChildAlgorithm(child)
        previous = child_id
    model.updateDestinationParameters()
    return model


def model_output(model, output="fine"):
    """The parameter (and result) name of a model output: ``<child id>:<output>`` on QGIS 3.22,
    the output's own name on QGIS >= 3.24 (where new models name outputs by their description)."""
    names = [p.name() for p in model.destinationParameterDefinitions()]
    return next(n for n in names if n == output or n.endswith(":" + output))
