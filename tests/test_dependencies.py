"""The plugin without its Python packages, and the installer's pip command (item 2 of issue 10).

Module imports and provider registration run in a subprocess whose import system refuses the
packages (tests/blocker/sitecustomize.py), not with mocks; the pip command is built for each
platform and really run into a temporary target from a local wheel folder."""
import base64
import hashlib
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from airmap.provider import dependencies as deps
from airmap.provider.provider import discover_algorithms
from helpers import REPO

BLOCKED = "affine,rasterio,scipy,skimage,matplotlib,onnxruntime,pykrige,torch,onnx"


def blocked_env(blocked=BLOCKED, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QGIS_")}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "blocker"), str(REPO / ".pkg")]),
               AIRMAP_BLOCK_MODULES=blocked, QT_QPA_PLATFORM="offscreen", **extra)
    return env


def test_provider_registers_every_algorithm_without_the_packages(tmp_path):
    script = textwrap.dedent("""
        import importlib, pkgutil, sys
        from qgis.core import QgsApplication, QgsMessageLog, QgsProcessingContext, QgsProcessingFeedback
        sys.path.append('/usr/share/qgis/python/plugins')
        app = QgsApplication([], False)
        app.initQgis()
        logged = []
        QgsApplication.messageLog().messageReceived.connect(lambda m, tag, level: logged.append((tag, m)))
        try:
            import rasterio
        except ModuleNotFoundError:
            print('BLOCKED rasterio')
        import airmap
        plugin = airmap.classFactory(None)
        plugin.initGui()
        provider = QgsApplication.processingRegistry().providerById('airmap')
        print('ALGS', ' '.join(sorted(a.name() for a in provider.algorithms())))
        for tag, message in logged:
            print('LOG', tag, message.replace('\\n', ' '))
        from processing.core.Processing import Processing
        Processing.initialize()
        import processing
        from qgis.core import QgsProcessingException, QgsVectorLayer
        from qgis.core import QgsFeature, QgsGeometry, QgsPointXY
        layer = QgsVectorLayer('Point?crs=EPSG:4326&field=pm25:double', 'st', 'memory')
        for i in range(5):
            f = QgsFeature(layer.fields())
            f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(100 + i, 30 + i // 2)))
            f.setAttributes([10.0 + i])
            layer.dataProvider().addFeatures([f])
        try:
            processing.run('airmap:idw', {'INPUT': layer, 'FIELD': 'pm25', 'OUTPUT': 'TEMPORARY_OUTPUT'})
        except QgsProcessingException as exc:
            print('RUN', str(exc).replace('\\n', ' '))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=blocked_env(),
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "BLOCKED rasterio" in out
    algs = next(l for l in out.splitlines() if l.startswith("ALGS")).split()[1:]
    classes, errors = discover_algorithms()      # here, with every package
    assert errors == [] and {c.ALG_ID for c in classes} == set(algs), out
    hint = next(l for l in out.splitlines() if l.startswith("LOG airmap"))
    assert "rasterio" in hint and "affine" in hint and "Install dependencies" in hint
    run = next(l for l in out.splitlines() if l.startswith("RUN"))
    assert "idw needs the Python package" in run and "Install dependencies" in run, run


def test_loading_the_plugin_imports_no_heavy_package():
    """With every package installed, start-up still imports none of them (the import rule in
    provider/__init__.py): they load when an algorithm runs."""
    script = textwrap.dedent("""
        import sys
        from qgis.core import QgsApplication
        app = QgsApplication([], False)
        app.initQgis()
        import airmap
        plugin = airmap.classFactory(None)
        plugin.initGui()
        for alg in QgsApplication.processingRegistry().providerById('airmap').algorithms():
            alg.createInstance().initAlgorithm({})      # what opening a dialog does
        print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & set(%r.split(','))))
    """ % BLOCKED)
    env = blocked_env(blocked="")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HEAVY []" in proc.stdout, proc.stdout


def test_missing_module_message_names_the_package_and_the_action():
    runtime = deps.missing_module_message(ModuleNotFoundError("x", name="skimage.filters"), "airmap:abpn")
    assert "'scikit-image'" in runtime and "Install dependencies" in runtime
    torch = deps.missing_module_message(ModuleNotFoundError("x", name="torch"), "airmap:hfsdf")
    assert "'torch'" in torch and "Install PyTorch" in torch
    assert deps.missing_module_message(ModuleNotFoundError("x", name="not_a_requirement"), "a") is None


def test_requirements_selection_keeps_pins_and_markers():
    lines = ["# comment", "numpy==1.26.4", "onnxruntime-gpu==1.31.1 ; sys_platform != 'darwin'",
             "onnxruntime==1.31.1 ; sys_platform == 'darwin'", "scikit_image==0.24.0  # why", "pytest==8.3.4",
             "-r other.txt"]
    picked = deps.select_requirements(lines, ["scikit-image", "onnxruntime", "onnxruntime-gpu"])
    assert picked == ["onnxruntime-gpu==1.31.1 ; sys_platform != 'darwin'",
                      "onnxruntime==1.31.1 ; sys_platform == 'darwin'", "scikit_image==0.24.0"]
    # the real files: every runtime module has a pinned line, test-only packages are never installed
    runtime = deps.requirements_for("runtime", list(deps.RUNTIME))
    names = {deps.requirement_name(line) for line in runtime}
    assert all("==" in line for line in runtime)
    assert not names & {"pytest", "pytest-qgis", "onnx", "torch"}
    for module, dists in deps.RUNTIME.items():
        assert names & {deps.canonical(d) for d in dists}, module
    assert [deps.requirement_name(l) for l in deps.requirements_for("torch", ["torch"])] == ["torch"]
    archives = deps.requirements_for("archives", list(deps.ARCHIVES))
    assert {deps.requirement_name(l) for l in archives} == {deps.canonical(d[0]) for d in deps.ARCHIVES.values()}
    assert all("==" in line for line in archives)


def test_constraints_keep_the_numpy_qgis_has():
    import numpy

    constraints = deps.constraints_for("runtime")
    assert f"numpy=={numpy.__version__}" in constraints
    assert sum(deps.requirement_name(c) == "numpy" for c in constraints) == 1
    assert any(c.startswith("scipy==") for c in constraints)


@pytest.mark.parametrize("platform, executable, exec_prefix, present, expected", [
    # Debian/Ubuntu: QGIS is /usr/bin/qgis, its Python /usr/bin/python3.11
    ("linux", "/usr/bin/qgis", "/usr", {"/usr/bin/python3.11", "/usr/bin/python3"}, "/usr/bin/python3.11"),
    # OSGeo4W: qgis-bin.exe; the interpreter is apps\\Python312\\python.exe
    ("win32", r"C:\OSGeo4W\bin\qgis-bin.exe", r"C:\OSGeo4W\apps\Python312",
     {os.path.join(r"C:\OSGeo4W\apps\Python312", "python.exe")}, os.path.join(r"C:\OSGeo4W\apps\Python312", "python.exe")),
    # macOS app bundle: the interpreter sits in Contents/MacOS/bin
    ("darwin", "/Applications/QGIS.app/Contents/MacOS/QGIS", "/Applications/QGIS.app/Contents/Frameworks",
     {"/Applications/QGIS.app/Contents/MacOS/bin/python3"}, "/Applications/QGIS.app/Contents/MacOS/bin/python3"),
    # a script or qgis_process started by python itself
    ("linux", "/work/.venv/bin/python", "/usr", {"/work/.venv/bin/python", "/usr/bin/python3.11"},
     "/work/.venv/bin/python"),
    ("linux", "/usr/bin/qgis", "/usr", set(), None),
])
def test_python_executable_per_platform(platform, executable, exec_prefix, present, expected):
    found = deps.python_executable(platform, executable, exec_prefix, (3, 11), exists=lambda p: p in present)
    assert found == expected


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
@pytest.mark.parametrize("kind", ["runtime", "torch"])
def test_pip_command_per_platform(platform, kind):
    command = deps.pip_command("PY", "TARGET", "REQ", "CON", platform=platform, kind=kind)
    assert command[:4] == ["PY", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == "TARGET"
    assert command[command.index("-r") + 1] == "REQ" and command[command.index("-c") + 1] == "CON"
    assert "--user" not in command and "--break-system-packages" not in command and "sudo" not in command
    assert "--no-input" in command and "--upgrade" in command
    cpu_index = "--extra-index-url" in command
    assert cpu_index == (kind == "torch" and platform != "darwin")
    assert deps.subprocess_flags(platform) == ({"creationflags": 0x08000000} if platform == "win32" else {})


def test_site_dir_is_per_profile_and_python_and_goes_last_on_sys_path(tmp_path):
    folder = deps.site_dir(str(tmp_path), "runtime", (3, 11))
    assert folder == str(tmp_path / "airmap" / "python3.11" / "packages")
    path = ["/first"]
    assert deps.activate(str(tmp_path), path) == []          # nothing installed yet: nothing added
    os.makedirs(deps.site_dir(str(tmp_path), "runtime"))
    os.makedirs(deps.site_dir(str(tmp_path), "torch"))
    added = deps.activate(str(tmp_path), path)
    assert path == ["/first"] + added and len(added) == 2    # after QGIS's own packages
    assert deps.activate(str(tmp_path), path) == []          # idempotent


def _wheel(folder, name, version, requires=()):
    """A minimal pure-Python wheel (a zip with METADATA, WHEEL and RECORD)."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f"VERSION = {version!r}\n",
             f"{dist}/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
                 name, version, "".join(f"Requires-Dist: {r}\n" for r in requires)),
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: airmap-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
            zf.writestr(arc, data)
        zf.writestr(f"{dist}/RECORD", "\n".join(record + [f"{dist}/RECORD,,"]) + "\n")
    return path


def _qgis_python():
    """The Python QGIS runs here (Debian's, externally managed), else this one."""
    system = "/usr/bin/python3"
    ok = os.path.exists(system) and subprocess.run([system, "-m", "pip", "--version"],
                                                   capture_output=True).returncode == 0
    return system if ok else sys.executable


def test_installer_command_installs_into_a_target_from_a_local_wheel_folder(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "airmap_probe_dep", "2.0")
    _wheel(wheels, "airmap_probe_dep", "3.0")
    _wheel(wheels, "airmap_probe", "1.0", requires=["airmap_probe_dep>=2"])
    req, con = tmp_path / "req.txt", tmp_path / "con.txt"
    req.write_text("airmap_probe==1.0\n")
    con.write_text("airmap_probe_dep==2.0\n")       # as numpy is held at QGIS's version
    target = tmp_path / "profile" / "airmap" / "python3.11" / "packages"
    python = _qgis_python()
    command = deps.pip_command(python, str(target), str(req), str(con), find_links=str(wheels), no_index=True)
    proc = subprocess.run(command, capture_output=True, text=True, env=deps.pip_environment(), timeout=300,
                          **deps.subprocess_flags())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # an isolated interpreter (no site-packages) imports them from the target alone
    check = subprocess.run([python, "-I", "-c", f"import sys; sys.path.append({str(target)!r}); "
                            "import airmap_probe, airmap_probe_dep; print(airmap_probe.VERSION, airmap_probe_dep.VERSION)"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.split() == ["1.0", "2.0"], check.stderr
    # a second run (e.g. after an update of the pins) replaces the code that is there
    req.write_text("airmap_probe==1.0\nairmap_probe_dep==3.0\n")
    con.write_text("")
    proc = subprocess.run(command, capture_output=True, text=True, env=deps.pip_environment(), timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    check = subprocess.run(check.args, capture_output=True, text=True, timeout=60)
    assert check.stdout.split() == ["1.0", "3.0"], check.stderr


def test_install_action_runs_pip_in_a_task_and_activates_the_folder(tmp_path):
    """The plugin's install() end to end in QGIS (no GUI): the background task runs pip on a
    package set of local wheels, swaps the folder in, puts it on sys.path and the import works."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "airmap_probe", "1.0")
    (tmp_path / "probe-requirements.txt").write_text("airmap_probe==1.0\n")
    script = textwrap.dedent(f"""
        import os, sys, time
        from qgis.core import QgsApplication
        app = QgsApplication([], False)
        app.initQgis()
        from airmap.provider import dependencies as deps, installer
        installer.profile_dir = lambda: {str(tmp_path / 'profile')!r}
        deps.PACKAGE_SETS['probe'] = ({{'airmap_probe': ('airmap_probe',)}}, {str(tmp_path / 'probe-requirements.txt')!r}, 'probe')
        import airmap
        plugin = airmap.classFactory(None)
        task = plugin.install('probe')
        deadline = time.time() + 120
        while plugin.task is not None and time.time() < deadline:
            app.processEvents()
            time.sleep(0.05)
        import airmap_probe
        print('VERSION', airmap_probe.VERSION, airmap_probe.__file__)
        print('MISSING', deps.missing_modules({{'airmap_probe': ()}}))
    """)
    env = blocked_env(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_CONFIG_FILE=os.devnull)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    target = tmp_path / "profile" / "airmap" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "probe"
    assert f"VERSION 1.0 {target / 'airmap_probe' / '__init__.py'}" in proc.stdout
    assert "MISSING []" in proc.stdout
    assert not (target.parent / "probe.new").exists()


def test_every_third_party_import_of_the_plugin_code_is_a_runtime_requirement():
    """A package imported by core/, algorithms/ or provider/ must be one the installer installs
    (onnx is needed only to export models, torch only to train: both live behind models/)."""
    import ast

    # pyproj comes with QGIS's Python bindings (Debian's python3-qgis and OSGeo4W depend on it)
    allowed = (set(sys.stdlib_module_names) | {"qgis", "processing", "airmap", "onnx", "torch", "pyproj"}
               | set(deps.RUNTIME) | set(deps.ARCHIVES))
    unknown = set()
    for folder in ("core", "algorithms", "provider"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                unknown |= {f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] not in allowed}
    assert unknown == set()
