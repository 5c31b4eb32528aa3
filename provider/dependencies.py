"""The Python packages airmap needs, and how the plugin installs them for a QGIS user.

QGIS runs its own Python (Debian's system Python, OSGeo4W's on Windows, the app bundle's on
macOS). airmap installs what that Python lacks with pip ``--target`` into a folder of the QGIS
profile (``<profile>/airmap/python3.X/<set>``), which it adds to ``sys.path`` at start-up:
no sudo, nothing written to the system's site-packages, and Debian's "externally managed"
rule does not apply to a target folder. The folder goes at the END of ``sys.path``, so what
QGIS's Python already has (numpy above all, which GDAL was built against) is never shadowed;
pip is told that numpy version as a constraint, so what it installs is built for it.

This module is QGIS-free so the command builder can be tested for every platform.
"""
import importlib
import importlib.util
import os
import re
import sys

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# import name -> the distribution names requirements.txt may pin it under
RUNTIME = {"numpy": ("numpy",), "affine": ("affine",), "rasterio": ("rasterio",), "scipy": ("scipy",),
           "skimage": ("scikit-image",), "matplotlib": ("matplotlib",),
           "onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "pykrige": ("pykrige",)}
TORCH = {"torch": ("torch",)}
# airmap:batch only (long archives on Dask); pinned in requirements.txt beside the runtime set.
ARCHIVES = {"dask": ("dask",), "distributed": ("distributed",), "xarray": ("xarray",), "zarr": ("zarr",),
            "numcodecs": ("numcodecs",), "pandas": ("pandas",), "netCDF4": ("netCDF4",)}
# The sets the plugin offers to install: (modules, requirements file, folder name)
PACKAGE_SETS = {"runtime": (RUNTIME, "requirements.txt", "packages"),
                "torch": (TORCH, "requirements-torch.txt", "torch"),
                "archives": (ARCHIVES, "requirements.txt", "archives")}
# PyTorch's CPU wheels: PyPI's Linux torch pulls gigabytes of CUDA libraries.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INSTALL_HOW = ("click 'Install dependencies' in the message bar, or Plugins > airmap > "
               "Install Python dependencies")
TORCH_HOW = "use Plugins > airmap > Install PyTorch (for training and fine-tuning)"
ARCHIVES_HOW = "use Plugins > airmap > Install Dask and xarray (for airmap:batch)"


def importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):   # a broken or blocked package counts as missing
        return False


def missing_modules(modules=RUNTIME):
    """The import names of ``modules`` that this Python cannot import."""
    return [name for name in modules if not importable(name)]


def missing_packages(modules=RUNTIME):
    """The distribution names (as pip knows them) of the missing modules."""
    return [modules[name][0] for name in missing_modules(modules)]


def install_hint(missing):
    return (f"airmap needs these Python packages, which QGIS's Python lacks: {', '.join(missing)}. "
            f"To install them, {INSTALL_HOW}; the algorithms work as soon as it finishes.")


def missing_module_message(exc, algorithm_id):
    """The user's message for a ModuleNotFoundError raised by an algorithm, or None when the
    module is not one of airmap's requirements (a real bug, left to propagate)."""
    top = (exc.name or "").split(".")[0]
    for modules, how in ((RUNTIME, INSTALL_HOW), (TORCH, TORCH_HOW), (ARCHIVES, ARCHIVES_HOW)):
        if top in modules:
            return (f"{algorithm_id} needs the Python package '{modules[top][0]}', which is not installed "
                    f"in QGIS's Python. To install it, {how}; then run the algorithm again.")
    return None


# --- where packages go ------------------------------------------------------------------------

def site_dir(profile_dir, kind="runtime", version=sys.version_info):
    """The plugin's package folder for ``kind`` inside a QGIS profile folder, per Python
    version (a QGIS upgrade to a new Python must not load binaries built for the old one)."""
    return os.path.join(profile_dir, "airmap", f"python{version[0]}.{version[1]}", PACKAGE_SETS[kind][2])


def activate(profile_dir, path=None):
    """Append the plugin's existing package folders to ``sys.path`` (see the module docstring
    for why at the end). Returns the folders added."""
    path = sys.path if path is None else path
    added = []
    for kind in PACKAGE_SETS:
        folder = site_dir(profile_dir, kind)
        if os.path.isdir(folder) and folder not in path:
            path.append(folder)
            added.append(folder)
    if added:
        importlib.invalidate_caches()
    return added


# --- the pip command --------------------------------------------------------------------------

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line):
    match = _NAME.match(line)
    return canonical(match.group(1)) if match else None


def select_requirements(lines, distributions):
    """The requirement lines (pins and environment markers kept) that name one of
    ``distributions``; comments, options and other packages are left out."""
    wanted = {canonical(d) for d in distributions}
    selected = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-") and requirement_name(text) in wanted:
            selected.append(text)
    return selected


def requirements_for(kind, missing, plugin_dir=PLUGIN_DIR):
    """Pinned requirement lines installing the ``missing`` import names of set ``kind``."""
    modules, filename, _ = PACKAGE_SETS[kind]
    with open(os.path.join(plugin_dir, filename), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    distributions = [d for name in missing for d in modules[name]]
    return select_requirements(lines, distributions)


def present_constraints(modules=("numpy",)):
    """``name==version`` for the given modules QGIS's Python already has (see module docstring)."""
    constraints = []
    for name in modules:
        if not importable(name):
            continue
        try:
            from importlib.metadata import version

            constraints.append(f"{name}=={version(name)}")
        except Exception:  # a module without distribution metadata (e.g. vendored): no constraint
            continue
    return constraints


def constraints_for(kind, plugin_dir=PLUGIN_DIR):
    """Constraint lines of an install: every pin of the set, so dependencies pulled in get the
    tested versions, with numpy's pin replaced by the numpy QGIS's Python already has."""
    present = present_constraints()
    pinned = requirements_for(kind, list(PACKAGE_SETS[kind][0]), plugin_dir)
    if present:
        pinned = [line for line in pinned if requirement_name(line) != "numpy"]
    return present + pinned


def python_executable(platform=sys.platform, executable=sys.executable, exec_prefix=sys.exec_prefix,
                      version=sys.version_info, exists=os.path.isfile):
    """The interpreter of QGIS's Python: inside QGIS ``sys.executable`` is the QGIS program
    itself, so look where each platform's QGIS keeps python. None if not found."""
    major_minor = f"{version[0]}.{version[1]}"
    candidates = []
    if os.path.basename(executable or "").lower().startswith("python"):
        candidates.append(executable)          # a script or qgis_process run by python itself
    if platform == "win32":                    # OSGeo4W and the standalone installer: apps\PythonXY
        candidates += [os.path.join(exec_prefix, "python.exe"), os.path.join(exec_prefix, "python3.exe")]
    else:
        if platform == "darwin" and ".app/Contents/" in (executable or ""):
            contents = executable.split(".app/Contents/")[0] + ".app/Contents"
            candidates += [f"{contents}/MacOS/bin/python{major_minor}", f"{contents}/MacOS/bin/python3"]
        candidates += [os.path.join(exec_prefix, "bin", f"python{major_minor}"),
                       os.path.join(exec_prefix, "bin", "python3")]
    return next((c for c in candidates if exists(c)), None)


def pip_command(python, target, requirements_file, constraints_file=None, platform=sys.platform,
                kind="runtime", find_links=None, no_index=False):
    """The argument list of the pip run that installs ``requirements_file`` into ``target``.

    --target: a folder the plugin owns (no admin rights, accepted by an externally managed
    Python); --upgrade: replace what an earlier run left there; --prefer-binary: no compiler
    needed; --no-input: never wait for a prompt nobody sees.
    """
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "--no-warn-script-location", "--prefer-binary", "--upgrade", "--target", target,
               "-r", requirements_file]
    if constraints_file:
        command += ["-c", constraints_file]
    if kind == "torch" and platform != "darwin":
        command += ["--extra-index-url", TORCH_CPU_INDEX]
    if no_index:
        command.append("--no-index")
    if find_links:
        command += ["--find-links", find_links]
    return command


def pip_environment(environ=None):
    """The environment of the pip run: the user's, but never a user-site install (pip refuses
    --user with --target) and never the user's site-packages shadowing pip's own modules."""
    env = dict(os.environ if environ is None else environ)
    env.update(PIP_USER="0", PYTHONNOUSERSITE="1", PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return env


def subprocess_flags(platform=sys.platform):
    """Popen keyword arguments: on Windows, no console window pops up over QGIS."""
    if platform == "win32":
        return {"creationflags": 0x08000000}  # CREATE_NO_WINDOW
    return {}
