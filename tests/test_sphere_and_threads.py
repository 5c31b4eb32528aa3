"""Great-circle distances for every geographic CRS (issue 13 item 2), and ONNX Runtime threads
and the bounded session cache (item 3)."""
import sys
from pathlib import Path

import numpy as np
import pytest

from airmap.core.baselines import idw, idw_at, ordinary_kriging
from airmap.core.geodesy import great_circle_degrees, is_geographic
from airmap.core.grid import Grid
from airmap.core.stations import Stations

sys.path.insert(0, str(Path(__file__).parent))
from test_onnx_runtime import tiny_model  # noqa: E402

CGCS2000_WKT = ('GEOGCRS["China Geodetic Coordinate System 2000",DATUM["China 2000",ELLIPSOID["CGCS2000",'
                '6378137,298.257222101]],CS[ellipsoidal,2],AXIS["longitude",east],AXIS["latitude",north],'
                'ANGLEUNIT["degree",0.0174532925199433]]')


@pytest.mark.parametrize("crs", ["EPSG:4326", "OGC:CRS84", "EPSG:4490", "EPSG:4258", "EPSG:4269", CGCS2000_WKT])
def test_geographic_is_read_from_the_crs_definition(crs):
    assert is_geographic(crs)


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:32650", "EPSG:4547", None, "not a crs"])
def test_projected_and_unknown_crs_are_planar(crs):
    assert not is_geographic(crs)


def test_idw_uses_great_circle_nearest_station_at_high_latitude():
    # At 70°N a degree of longitude is 0.34 of a degree of latitude: the station 2° east is
    # nearer on the sphere (0.68° of arc) than the one 1° north, although farther in flat degrees.
    st = Stations([12.0, 10.0], [70.0, 71.0], [100.0, 0.0])
    flat = idw_at(st, [10.0], [70.0], k=1)
    sphere = idw_at(st, [10.0], [70.0], k=1, geographic=True)
    assert flat[0] == 0.0 and sphere[0] == 100.0
    grid = Grid.from_extent(9.5, 69.5, 10.5, 70.5, 1.0, "EPSG:4490")   # CGCS2000, decided from the CRS
    assert idw(st, grid, k=1)[0, 0] == 100.0
    both = idw_at(st, [10.0], [70.0], k=2, geographic=True)[0]
    d_east, d_north = great_circle_degrees(10, 70, 12, 70), great_circle_degrees(10, 70, 10, 71)
    w = np.array([1 / d_east ** 2, 1 / d_north ** 2])
    assert both == pytest.approx((w @ [100.0, 0.0]) / w.sum(), rel=1e-9)


def test_idw_search_radius_is_degrees_of_arc_on_a_geographic_crs():
    st = Stations([12.0], [70.0], [5.0])
    assert np.isfinite(idw_at(st, [10.0], [70.0], radius=0.75, geographic=True))[0]   # 0.68° of arc
    assert np.isnan(idw_at(st, [10.0], [70.0], radius=0.75, geographic=False))[0]     # 2 flat degrees


def test_kriging_on_cgcs2000_uses_great_circle_distances(monkeypatch):
    import pykrige.ok

    seen = []
    original = pykrige.ok.OrdinaryKriging.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("coordinates_type"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pykrige.ok.OrdinaryKriging, "__init__", spy)
    rng = np.random.default_rng(0)
    st = Stations(rng.uniform(100, 110, 30), rng.uniform(30, 38, 30), rng.uniform(10, 50, 30))
    ordinary_kriging(st, Grid.from_extent(100, 30, 110, 38, 1.0, "EPSG:4490"))
    ordinary_kriging(st, Grid.from_extent(100, 30, 110, 38, 1.0, "EPSG:32650"))
    assert seen == ["geographic", "euclidean"]


def test_idw_default_is_twelve_nearest_stations_and_zero_means_all():
    from airmap.algorithms.idw import DEFAULT_K as ALGORITHM_DEFAULT
    from airmap.core.baselines.idw import DEFAULT_K

    assert DEFAULT_K == ALGORITHM_DEFAULT == 12
    rng = np.random.default_rng(4)
    st = Stations(rng.uniform(0, 10, 40), rng.uniform(0, 10, 40), rng.uniform(0, 100, 40))
    x, y = np.array([5.0]), np.array([5.0])
    assert idw_at(st, x, y)[0] == pytest.approx(idw_at(st, x, y, k=12)[0])
    assert idw_at(st, x, y, k=0)[0] == pytest.approx(idw_at(st, x, y, k=None)[0])
    assert idw_at(st, x, y, k=0)[0] != pytest.approx(idw_at(st, x, y)[0])


def test_sessions_use_the_threads_asked_for_and_the_cache_is_lru(tmp_path):
    from airmap.core import onnx_runtime as rt

    rt.clear_cache()
    paths = [tiny_model(tmp_path / f"m{i}.onnx") for i in range(rt.CACHE_SIZE + 1)]
    one = rt.load_model(paths[0], "test", threads=1)
    assert one.session.get_session_options().intra_op_num_threads == 1
    default = rt.load_model(paths[0], "test")
    assert default.session.get_session_options().intra_op_num_threads == rt.available_cores()
    assert rt.load_model(paths[0], "test", threads=1) is one
    for p in paths[1:rt.CACHE_SIZE]:
        rt.load_model(p, "test", threads=1)
    rt.load_model(paths[0], "test", threads=1)          # used again: now the most recent
    rt.load_model(paths[-1], "test", threads=1)         # one too many: the least recent goes
    assert rt.cached_sessions() == rt.CACHE_SIZE
    assert rt.load_model(paths[0], "test", threads=1) is one
    with pytest.raises(rt.AirmapInputError, match="THREADS"):
        rt.load_model(paths[0], "test", threads=-2)
    rt.clear_cache()
    assert rt.cached_sessions() == 0


def test_threads_parameter_defaults_to_the_cores_qgis_may_use(qgis_app, monkeypatch):
    from qgis.core import QgsApplication, QgsProcessingContext

    from airmap.algorithms.abpn import AbpnAlgorithm
    from airmap.provider.parameters import default_threads, threads_choice

    alg = AbpnAlgorithm()
    alg.initAlgorithm()
    param = alg.parameterDefinition("THREADS")
    assert param is not None and param.flags() & param.FlagAdvanced
    context = QgsProcessingContext()
    # QGIS's own setting, faked: 3.40 raises a setting of 1 to 2, so setMaxThreads cannot say 1 there
    monkeypatch.setattr("airmap.provider.parameters.available_cores", lambda: 8)
    monkeypatch.setattr(QgsApplication, "maxThreads", staticmethod(lambda: 1))
    assert default_threads() == 1 and threads_choice(alg, {}, context) == 1
    monkeypatch.setattr(QgsApplication, "maxThreads", staticmethod(lambda: -1))   # "all cores"
    assert default_threads() == 8
    assert threads_choice(alg, {"THREADS": 3}, context) == 3


def test_plugin_unload_frees_the_session_cache(tmp_path, qgis_app):
    from airmap.core import onnx_runtime as rt
    from airmap.plugin import AirmapPlugin

    rt.load_model(tiny_model(tmp_path / "m.onnx"), "test", threads=1)
    assert rt.cached_sessions() >= 1
    AirmapPlugin(None).unload()
    assert rt.cached_sessions() == 0
