"""Foundation item 3: the plugin loads in a standalone PyQGIS script and in qgis_process
from a profile's plugins folder (pytest-qgis is covered by the other plugin tests)."""
import os
import site
import subprocess
import sys
import json
import textwrap

import numpy as np
import rasterio

from airmap.core.stations import read_station_csv
from helpers import REPO, SHARED_DATA

CSV_URI = (f"file://{SHARED_DATA}/cnemc_china_stations_20170411.csv?type=csv&xField=lon&yField=lat"
           "&crs=EPSG:4326&detectTypes=yes")


def write_geojson(path):
    """The CNEMC stations as GeoJSON (WGS 84), a file qgis_process opens directly."""
    st = read_station_csv(str(SHARED_DATA / "cnemc_china_stations_20170411.csv"), "pm25")
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
                 "properties": {"pm25": float(v)}} for x, y, v in zip(st.x, st.y, st.values)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _env(**extra):
    """A user's environment: pytest-qgis points QGIS_* variables at its own temporary profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QGIS_")}
    env.update(QT_QPA_PLATFORM="offscreen", **extra)
    return env


def test_standalone_pyqgis_script_runs_airmap_idw(tmp_path):
    out = tmp_path / "idw.tif"
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / '.pkg')!r})
        sys.path.append('/usr/share/qgis/python/plugins')
        from qgis.core import QgsApplication, QgsVectorLayer
        app = QgsApplication([], False)
        app.initQgis()
        from processing.core.Processing import Processing
        Processing.initialize()
        import processing
        from airmap.provider.provider import AirmapProvider
        provider = AirmapProvider()  # keep a reference: the registry does not own Python objects
        QgsApplication.processingRegistry().addProvider(provider)
        layer = QgsVectorLayer({CSV_URI!r}, 'cnemc', 'delimitedtext')
        result = processing.run('airmap:idw', {{'INPUT': layer, 'FIELD': 'pm25', 'PIXEL_SIZE': 1.0,
                                               'OUTPUT': {str(out)!r}}})
        print('RESULT', result['OUTPUT'])
        app.exitQgis()
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"RESULT {out}" in proc.stdout
    with rasterio.open(out) as ds:
        band = ds.read(1, masked=True)
        assert ds.crs.to_epsg() == 4326 and 10 < float(band.mean()) < 200


def test_plugin_class_factory_registers_and_unloads_the_provider(tmp_path):
    """What QGIS desktop does with the plugin: classFactory, initGui, later unload."""
    script = tmp_path / "plugin.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / '.pkg')!r})
        from qgis.core import QgsApplication
        app = QgsApplication([], False)
        app.initQgis()
        import airmap
        plugin = airmap.classFactory(None)
        plugin.initGui()
        provider = QgsApplication.processingRegistry().providerById('airmap')
        print('NAME', provider.name())
        print('ALGS', ' '.join(sorted(a.id() for a in provider.algorithms())))
        plugin.unload()
        print('AFTER', QgsApplication.processingRegistry().providerById('airmap'))
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NAME Air pollution mapping" in proc.stdout
    algs = next(l for l in proc.stdout.splitlines() if l.startswith("ALGS")).split()[1:]
    assert {"airmap:idw", "airmap:kriging", "airmap:bicubic", "airmap:lineartime", "airmap:evaluate",
            "airmap:crossvalidate"} <= set(algs)
    assert "AFTER None" in proc.stdout


def _qgis_process(env, *args):
    return subprocess.run(["qgis_process.bin", *args], capture_output=True, text=True, env=env, timeout=300)


def test_qgis_process_runs_the_plugin_enabled_from_a_profile(tmp_path):
    """As a user installs it: a symlink named airmap in the profile's python/plugins folder."""
    plugins = tmp_path / "home/.local/share/QGIS/QGIS3/profiles/default/python/plugins"
    plugins.mkdir(parents=True)
    (plugins / "airmap").symlink_to(REPO, target_is_directory=True)
    # qgis_process runs Debian's python3: give it the venv's packages (rasterio, pykrige, ...)
    env = _env(HOME=str(tmp_path / "home"), PYTHONPATH=os.pathsep.join(site.getsitepackages()))
    enable = _qgis_process(env, "plugins", "enable", "airmap")
    assert enable.returncode == 0, enable.stderr[-2000:]
    listing = _qgis_process(env, "list")
    assert "airmap:kriging" in listing.stdout and "airmap:evaluate" in listing.stdout
    out = tmp_path / "kriging.tif"
    stations = write_geojson(tmp_path / "cnemc.geojson")
    run = _qgis_process(env, "run", "airmap:kriging", "--", f"INPUT={stations}", "FIELD=pm25", "PIXEL_SIZE=2",
                        f"OUTPUT={out}")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    with rasterio.open(out) as ds:
        assert np.isfinite(ds.read(1)).all() and ds.width > 20
    # one variable of a NetCDF file as a GDAL subdataset string
    uri = f'NETCDF:"{SHARED_DATA / "cams_pm25_0p75_20191231.nc"}":pm25'
    out = tmp_path / "bicubic.tif"
    run = _qgis_process(env, "run", "airmap:bicubic", "--", f"INPUT={uri}", f"OUTPUT={out}")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    with rasterio.open(out) as ds:
        assert (ds.count, ds.height, ds.width) == (4, 723, 1440) and ds.crs.to_epsg() == 4326
