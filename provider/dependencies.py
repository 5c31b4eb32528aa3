"""Checks that the Python packages the algorithms need are importable, with a fix to type."""
import importlib.util

REQUIRED = {"numpy": "numpy<2", "scipy": "scipy", "rasterio": "rasterio", "onnxruntime": "onnxruntime",
            "pykrige": "pykrige", "matplotlib": "matplotlib", "skimage": "scikit-image", "affine": "affine<3"}


def missing_packages():
    return [pip for module, pip in REQUIRED.items() if importlib.util.find_spec(module) is None]


def install_hint(missing):
    quoted = " ".join(f'"{p}"' for p in missing)
    return (f"airmap needs these Python packages: {', '.join(missing)}. Install them into the Python "
            f"that QGIS uses, e.g. `python3 -m pip install {quoted}`, then restart QGIS.")
