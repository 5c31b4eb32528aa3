"""matplotlib for files only (Agg), without the warning that Debian's system matplotlib
beside the venv's triggers about the unused 3-D toolkit."""
import warnings


def pyplot():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unable to import Axes3D")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    return plt
