"""The pollution simulator (core/simulate): physics checks with exact answers, determinism,
derived products and rejection of bad parameters."""
import hashlib

import numpy as np
import pytest
from affine import Affine

from airmap.core.errors import AirmapInputError
from airmap.core.grid import Grid
from airmap.core.simulate import SimConfig, run_scenario
from airmap.core.simulate.transport import (Transport, divergence, face_winds_from_centres,
                                            make_nondivergent)

DX = 5000.0


@pytest.fixture(scope="module")
def scenario():
    return run_scenario(size=48, pixel_size=DX, days=3, seed=11)


def _blob(n, r0, c0, sigma):
    rows, cols = np.mgrid[0:n, 0:n]
    return np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2.0 * sigma ** 2)), rows, cols


def _moments(c, rows, cols):
    m = c.sum(dtype=np.float64)
    cy, cx = (c * rows).sum() / m, (c * cols).sum() / m
    var_x = (c * (cols - cx) ** 2).sum() / m
    var_y = (c * (rows - cy) ** 2).sum() / m
    return m, cx, cy, var_x, var_y


def _padded(field):
    state = np.zeros((1,) + tuple(s + 2 for s in field.shape), np.float32)
    state[0, 1:-1, 1:-1] = field
    return state


# --- physics ---------------------------------------------------------------------------------
def test_mass_budget_closes(scenario):
    """Emission + formation + exchange - removal = change of mass, within 1 % of the mass that
    entered (it closes to rounding because every term is computed from its own formula)."""
    b = scenario.budget
    for tracer in ("pm", "gas"):
        terms = sum(b[f"{t}_{tracer}"] for t in ("emission", "secondary", "entrainment",
                                                "detrainment", "boundary", "dry_deposition",
                                                "wet_removal"))
        entering = b[f"emission_{tracer}"] + abs(b[f"secondary_{tracer}"]) + b[f"entrainment_{tracer}"]
        assert abs(b[f"change_{tracer}"] - terms) < 0.01 * entering
        assert abs(b[f"residual_{tracer}"]) < 1e-4 * entering
    assert b["emission_pm"] > 0 and b["dry_deposition_pm"] < 0 and b["secondary_pm"] > 0
    assert b["secondary_pm"] == pytest.approx(-b["secondary_gas"])


def test_concentrations_non_negative_even_with_strong_wind_and_rain():
    cfg = SimConfig(days=2, mean_wind=12.0, eddy_wind=4.0, rain_events_per_day=3.0,
                    point_source_kg_h=500.0)
    sc = run_scenario(size=40, pixel_size=DX, days=2, seed=5, config=cfg)
    assert np.isfinite(sc.pm25_hourly).all()
    assert sc.pm25_hourly.min() >= 0.0
    assert sc.wind_speed_hourly.max() > 8.0  # the case really is windy


@pytest.mark.parametrize("u,v", [(5.0, 0.0), (-3.0, 4.0)])
def test_pure_advection_moves_a_blob_by_u_times_t(u, v):
    n, hours = 128, 8
    blob, rows, cols = _blob(n, 64, 64, 4.0)
    state = _padded(blob)
    m0, cx0, cy0, _, _ = _moments(state[0, 1:-1, 1:-1], rows, cols)
    tr = Transport(np.full((n, n + 1), u), np.full((n + 1, n), v), 0.0, DX, 3600.0)
    for _ in range(hours):
        tr.run(state)
    m1, cx1, cy1, _, _ = _moments(state[0, 1:-1, 1:-1], rows, cols)
    seconds = hours * 3600.0
    assert (cx1 - cx0) * DX == pytest.approx(u * seconds, rel=0.02, abs=0.02 * DX)
    assert -(cy1 - cy0) * DX == pytest.approx(v * seconds, rel=0.02, abs=0.02 * DX)  # rows run south
    assert m1 == pytest.approx(m0, rel=1e-5)
    assert state.min() >= 0.0


def test_pure_diffusion_spreads_a_blob_by_two_k_t():
    n, hours, k = 96, 24, 2000.0
    blob, rows, cols = _blob(n, 48, 48, 3.0)
    state = _padded(blob)
    _, _, _, vx0, vy0 = _moments(state[0, 1:-1, 1:-1], rows, cols)
    tr = Transport(np.zeros((n, n + 1)), np.zeros((n + 1, n)), k, DX, 3600.0)
    for _ in range(hours):
        tr.run(state)
    m1, _, _, vx1, vy1 = _moments(state[0, 1:-1, 1:-1], rows, cols)
    expected = 2.0 * k * hours * 3600.0 / DX ** 2
    assert vx1 - vx0 == pytest.approx(expected, rel=0.02)
    assert vy1 - vy0 == pytest.approx(expected, rel=0.02)
    assert m1 == pytest.approx(blob.sum(), rel=1e-5)


def test_projected_wind_is_non_divergent_and_keeps_a_uniform_field_uniform():
    rng = np.random.default_rng(0)
    n = 64
    uc, vc = rng.normal(3, 2, (n, n)), rng.normal(0, 2, (n, n))
    uf, vf = face_winds_from_centres(uc, vc)
    assert np.abs(divergence(uf, vf, DX)).max() > 1e-5
    uf, vf = make_nondivergent(uf, vf, DX)
    assert np.abs(divergence(uf, vf, DX)).max() < 1e-12
    state = np.full((2, n + 2, n + 2), 7.0, np.float32)
    inflow = Transport(uf, vf, 1000.0, DX, 3600.0, n_tracers=2).run(state)
    np.testing.assert_allclose(state[:, 1:-1, 1:-1], 7.0, rtol=1e-5)
    np.testing.assert_allclose(inflow, 0.0, atol=1e-4 * 7.0 * n * n * DX * DX)


def test_physical_ranges_and_cycles(scenario):
    sc = scenario
    assert sc.pm25_hourly.shape == (72, 48, 48) and sc.pm25_daily.shape == (3, 48, 48)
    assert 10 <= sc.rh_hourly.min() and sc.rh_hourly.max() <= 100
    assert 0 <= sc.urban.min() and sc.urban.max() <= 1 and sc.dem.min() >= 0
    np.testing.assert_allclose(sc.wind_speed_hourly, np.hypot(sc.u_hourly, sc.v_hourly), rtol=1e-4)
    # Boundary layer: deep in the afternoon, shallow at night.
    hours = np.array([int(t[11:13]) for t in sc.times])
    assert sc.blh_hourly[hours == 14].mean() > 2.5 * sc.blh_hourly[hours == 3].mean()
    # Urban cells are more polluted than the countryside.
    daily = sc.pm25_daily.mean(axis=0)
    assert daily[sc.urban > 0.3].mean() > 1.3 * daily[sc.urban < 0.05].mean()
    assert sc.times[0] == "2017-01-01T00:00:00" and sc.times[25] == "2017-01-02T01:00:00"


# --- determinism -------------------------------------------------------------------------------
def _digest(sc):
    h = hashlib.sha256()
    for a in (sc.pm25_hourly, sc.rh_hourly, sc.u_hourly, sc.v_hourly, sc.dem, sc.urban):
        h.update(a.tobytes())
    return h.hexdigest()


def test_same_seed_gives_same_bytes_and_another_seed_differs(scenario):
    again = run_scenario(size=48, pixel_size=DX, days=3, seed=11)
    assert _digest(again) == _digest(scenario)
    other = run_scenario(size=48, pixel_size=DX, days=3, seed=12)
    assert _digest(other) != _digest(scenario)


# --- derived products --------------------------------------------------------------------------
def test_coarse_product_is_block_mean_of_every_third_hour(scenario):
    c = scenario.coarse(factor=3, step=3)
    assert c.shape == (24, 16, 16)
    expected = scenario.pm25_hourly[6, 3:6, 9:12].mean()
    assert c[2, 1, 3] == pytest.approx(expected, rel=1e-5)
    assert scenario.coarse_times(3)[2] == scenario.times[6]
    assert scenario.coarse_grid(3).shape == (16, 16)


def test_stations_cluster_in_cities_and_sample_the_daily_truth(scenario):
    rng = np.random.default_rng(3)
    st = scenario.sample_stations(60, day=1, rng=rng)
    assert len(st) == 60 and len(set(st.ids)) == 60
    rows, cols = scenario.grid.rowcol(st.x, st.y)
    np.testing.assert_allclose(st.values, scenario.pm25_daily[1][rows, cols], rtol=1e-6)
    assert scenario.urban[rows, cols].mean() > 2.0 * scenario.urban.mean()
    assert len(np.unique(rows * 48 + cols)) == 60  # one site per cell at most
    noisy = scenario.sample_stations(60, 1, np.random.default_rng(3), noise=0.2)
    rel = noisy.values / st.values - 1
    assert 0.1 < rel.std() < 0.3 and noisy.values.min() >= 0


def test_satellite_has_cloud_gaps_and_true_values_elsewhere(scenario):
    sat = scenario.satellite(2, np.random.default_rng(1), cloud_fraction=0.4)
    gaps = np.isnan(sat)
    assert gaps.mean() == pytest.approx(0.4, abs=0.02)
    np.testing.assert_array_equal(sat[~gaps], scenario.pm25_daily[2][~gaps])


def test_write_products_named_after_variables(scenario, tmp_path):
    from airmap.core.raster_io import read_raster
    out = scenario.write(str(tmp_path), n_stations=25)
    for name in ("pm25_hourly", "pm25_daily", "pm25_coarse_3h", "rh_hourly", "wind_speed_hourly",
                 "u_hourly", "v_hourly", "dem", "urban", "pm25_satellite_daily"):
        assert (tmp_path / f"{name}.tif").exists(), name
    daily = read_raster(out["pm25_daily"])
    np.testing.assert_allclose(daily.data, scenario.pm25_daily, rtol=1e-6)
    assert daily.band_names == ["2017-01-01", "2017-01-02", "2017-01-03"]
    coarse = read_raster(out["pm25_coarse_3h"])
    assert coarse.data.shape == (24, 16, 16) and coarse.band_names[1] == "2017-01-01T03:00:00"
    header = open(out["stations"]).readline().strip().split(",")
    assert header[:6] == ["site_id", "x", "y", "group", "urban", "pm25"] and len(header) == 9


def test_given_dem_and_urban_rasters_are_used():
    grid = Grid.from_extent(500000, 4000000, 500000 + 32 * 4000, 4000000 + 32 * 4000, 4000,
                            "EPSG:32650")
    rows, cols = np.mgrid[0:32, 0:32]
    dem = (rows * 30.0).astype(np.float32)
    dem[0, 0] = np.nan  # no-data (e.g. sea) counts as sea level
    urban = np.zeros((32, 32), np.float32)
    urban[10:14, 20:24] = 80.0  # percent
    sc = run_scenario(days=1, seed=2, grid=grid, dem=dem, urban=urban)
    assert sc.grid == grid and sc.dem[0, 0] == 0 and sc.dem[5, 3] == 150.0
    assert sc.urban.max() == pytest.approx(0.8)
    assert sc.pm25_daily[0][11, 21] > sc.pm25_daily[0][28, 3]


# --- bad parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    (dict(days=0), "DAYS"), (dict(days=2.5), "DAYS"), (dict(seed=-1), "SEED"),
    (dict(pixel_size=0.0), "PIXEL_SIZE"), (dict(pixel_size=float("nan")), "PIXEL_SIZE"),
    (dict(size=4), "8 x 8"), (dict(size=4096), "1024"),
])
def test_bad_run_parameters_are_rejected(kwargs, words):
    args = dict(size=16, pixel_size=DX, days=1, seed=0)
    args.update(kwargs)
    with pytest.raises(AirmapInputError, match=words):
        run_scenario(**args)


@pytest.mark.parametrize("changes", [dict(urban_emission=-1.0), dict(diffusivity=float("inf")),
                                     dict(courant_limit=0.9), dict(start="yesterday"),
                                     dict(blh_day=100.0), dict(traffic_share=2.0)])
def test_bad_settings_are_rejected(changes):
    with pytest.raises(AirmapInputError):
        SimConfig(days=1, **changes)


def test_bad_grids_and_rasters_are_rejected():
    geographic = Grid(Affine(0.1, 0, 110, 0, -0.1, 40), 20, 20, "EPSG:4326")
    with pytest.raises(AirmapInputError, match="projected"):
        run_scenario(days=1, grid=geographic)
    grid = Grid.from_extent(0, 0, 80000, 80000, 5000, "EPSG:32650")
    with pytest.raises(AirmapInputError, match="same grid"):
        run_scenario(days=1, grid=grid, dem=np.zeros((10, 10), np.float32))
    with pytest.raises(AirmapInputError, match="fraction"):
        run_scenario(days=1, grid=grid, urban=np.full((16, 16), 500.0, np.float32))
    with pytest.raises(AirmapInputError, match="no-data"):
        run_scenario(days=1, grid=grid, dem=np.full((16, 16), np.nan, np.float32))


def test_bad_product_arguments_are_rejected(scenario):
    rng = np.random.default_rng(0)
    with pytest.raises(AirmapInputError):
        scenario.sample_stations(10, day=3, rng=rng)
    with pytest.raises(AirmapInputError):
        scenario.sample_stations(0, day=0, rng=rng)
    with pytest.raises(AirmapInputError):
        scenario.satellite(0, rng, cloud_fraction=1.5)
    with pytest.raises(AirmapInputError):
        scenario.coarse(factor=0)
