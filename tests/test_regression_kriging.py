"""RESIDUAL_KRIGING of airmap:pointconv as regression kriging (core/regression_kriging.py):
out-of-sample network values at the stations and a trend weight chosen by cross-validation."""
import numpy as np


def _rk_network(x, y, v, noise):
    """A stand-in network: the true field plus ``noise`` at the targets (ignores its inputs)."""
    from airmap.core.stations import Stations

    rng = np.random.default_rng(5)
    err = rng.normal(0, noise, x.size) if noise else np.zeros(x.size)
    lookup = {(round(a, 9), round(b, 9)): val + e for a, b, val, e in zip(x, y, v, err)}
    return lambda inputs, targets: np.array([lookup[round(a, 9), round(b, 9)] for a, b in zip(targets.x, targets.y)])


def test_regression_kriging_weight_follows_what_the_network_knows():
    """The trend weight is chosen by cross-validation at the stations: a network that knows the
    field (its values are the truth) gets weight ~1; one that is pure noise gets weight 0, i.e.
    ordinary kriging."""
    from airmap.core.regression_kriging import choose_weight
    from airmap.core.stations import Stations

    rng = np.random.default_rng(3)
    x, y = rng.uniform(100, 110, 120), rng.uniform(30, 38, 120)
    v = 40 + 15 * np.sin(x * 3.0) * np.cos(y * 2.5)          # short-range: kriging alone does poorly
    st = Stations(x, y, v)
    good = choose_weight(_rk_network(x, y, v, 0.0), st, geographic=True)
    assert good.weight >= 0.9 and good.cv_rmse[good.weight] < 0.5 * good.cv_rmse[0.0]
    assert np.allclose(good.out_of_sample, v)
    noise = Stations(x, y, 40 + 0 * v)
    bad = choose_weight(lambda i, t: rng.normal(0, 20, len(t)), noise, geographic=True)
    assert bad.weight == 0.0


def test_residual_kriging_reproduces_stations_and_reports_its_weight():
    """RESIDUAL_KRIGING on airmap:pointconv's core path: the map meets the stations much closer
    than the network alone, and the note gives the weight and how it was chosen."""
    from airmap.core import pointconv as pc
    from airmap.core.grid import Grid
    from airmap.core.station_methods import sample_cells
    from airmap.core.stations import Stations

    rng = np.random.default_rng(3)
    x, y = rng.uniform(100, 110, 150), rng.uniform(30, 38, 150)
    v = 40 + 15 * np.sin(x / 3.0) + 10 * np.cos(y / 4.0) + 25 * np.exp(-((x - 104) ** 2 + (y - 34) ** 2) / 2)
    st = Stations(x, y, v)
    grid = Grid.from_extent(100, 30, 110, 38, 0.1, "EPSG:4326")
    plain = pc.predict_pm25(st, grid, device="cpu")
    rk = pc.predict_pm25(st, grid, device="cpu", residual_kriging=True)
    err = lambda f: np.sqrt(np.mean((sample_cells(f.field, grid, x, y) - v) ** 2))
    assert err(rk) < 0.5 * err(plain)
    note = next(n for n in rk.notes if "Residual kriging" in n)
    assert "chosen by 5-fold cross-validation" in note and "out of sample" in note


def test_regression_kriging_few_stations_uses_weight_one_in_sample():
    """Below the cross-validation minimum: the classic network + kriged residuals in the cells."""
    from airmap.core.baselines.kriging import ordinary_kriging
    from airmap.core.grid import Grid
    from airmap.core.regression_kriging import MIN_STATIONS, regression_kriging
    from airmap.core.station_methods import sample_cells
    from airmap.core.stations import Stations

    rng = np.random.default_rng(1)
    n = MIN_STATIONS - 5
    x, y = rng.uniform(0, 10, n), rng.uniform(0, 10, n)
    v = 10 + x + rng.normal(0, 1, n)
    grid = Grid.from_extent(0, 0, 10, 10, 0.5, "EPSG:3857")
    field = np.full(grid.shape, 12.0, np.float32)
    notes = []
    out = regression_kriging(field, lambda i, t: None, Stations(x, y, v), grid, notes)
    expected = field + ordinary_kriging(Stations(x, y, v - sample_cells(field, grid, x, y)), grid)
    assert np.allclose(out, expected, atol=1e-3) and "weight 1" in notes[-1]
