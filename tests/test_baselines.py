"""Foundation items 6-8 in core: baselines, metrics, evaluation and cross-validation."""
import numpy as np
import pytest

from airmap.core.baselines import bicubic, idw, idw_at, linear_in_time, ordinary_kriging
from airmap.core.crossval import assign_folds, cross_validate
from airmap.core.errors import AirmapInputError
from airmap.core.grid import Grid
from airmap.core.metrics import score
from airmap.core.stations import Stations
from airmap.core.timestamps import refine_times
from helpers import smooth_field


@pytest.fixture
def field_stations():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 20, 80), rng.uniform(0, 20, 80)
    return Stations(x, y, smooth_field(x, y))


def test_idw_is_exact_at_stations_and_bounded_by_them(field_stations):
    st = field_stations
    np.testing.assert_allclose(idw_at(st, st.x, st.y), st.values)
    grid = Grid.from_extent(0, 0, 20, 20, 0.5)
    out = idw(st, grid, power=2, k=8)
    assert out.shape == (40, 40)
    assert st.values.min() - 1e-9 <= out.min() and out.max() <= st.values.max() + 1e-9


def test_idw_search_radius_leaves_far_cells_empty():
    st = Stations([1.0], [1.0], [5.0])
    out = idw(st, Grid.from_extent(0, 0, 10, 10, 1.0), radius=2.0)
    assert out[8, 1] == 5.0 and np.isnan(out[0, 9])


def test_kriging_honours_stations_and_reports_variance(field_stations):
    st = field_stations
    grid = Grid.from_extent(0, 0, 20, 20, 1.0)
    est, var = ordinary_kriging(st, grid, variance=True)
    truth = smooth_field(*grid.cell_centres())
    assert score(est, truth)["R2"] > 0.9
    # variance is smallest in cells with a station and grows away from them
    rows, cols = grid.rowcol(st.x, st.y)
    assert np.median(var[rows, cols]) < np.median(var)


def test_kriging_needs_three_stations():
    with pytest.raises(AirmapInputError, match="at least 3 stations"):
        ordinary_kriging(Stations([0, 1], [0, 1], [1, 2]), Grid.from_extent(0, 0, 2, 2, 1.0))


def test_bicubic_refines_each_cell_and_keeps_constants_and_nodata():
    data = np.full((2, 4, 5), 7.0, dtype=np.float32)
    data[1, 1, 2] = np.nan
    out = bicubic(data, 3)
    assert out.shape == (2, 12, 15)
    np.testing.assert_allclose(out[0], 7.0)
    assert np.isnan(out[1, 3:6, 6:9]).all() and np.isfinite(out[1]).sum() == 12 * 15 - 9


def test_bicubic_reproduces_a_linear_ramp_and_stays_non_negative():
    ramp = np.tile(np.arange(10, dtype=np.float32), (6, 1))[None]
    out = bicubic(ramp, 3)
    centre = (np.arange(30) + 0.5) / 3 - 0.5
    np.testing.assert_allclose(out[0, 5, 6:-6], centre[6:-6], atol=1e-5)  # away from clamped edges
    spiky = np.zeros((1, 6, 6), np.float32)
    spiky[0, 3, 3] = 100
    assert bicubic(spiky, 3).min() >= 0


def test_linear_in_time_band_count_values_and_times():
    stack = np.stack([np.zeros((2, 2)), np.full((2, 2), 3.0), np.full((2, 2), 9.0)]).astype(np.float32)
    out = linear_in_time(stack, 3)
    assert out.shape[0] == 3 * (3 - 1) + 1
    np.testing.assert_allclose(out[:, 0, 0], [0, 1, 2, 3, 5, 7, 9])
    names = refine_times(["2020-01-01T00:00:00", "2020-01-01T03:00:00"], 3)
    assert names == ["2020-01-01T00:00:00", "2020-01-01T01:00:00", "2020-01-01T02:00:00", "2020-01-01T03:00:00"]
    with pytest.raises(AirmapInputError, match="at least 2 bands"):
        linear_in_time(stack[:1])


def test_metrics_on_known_values():
    m = score([2, 4, 6, np.nan], [1, 3, 5, 7])
    assert m["N"] == 3 and m["MB"] == pytest.approx(1) and m["MAE"] == pytest.approx(1)
    assert m["RMSE"] == pytest.approx(1) and m["R"] == pytest.approx(1)
    assert m["NME"] == pytest.approx(3 / 9) and m["R2"] == pytest.approx(1 - 3 / 8)
    assert 0 < m["IOA"] < 1
    perfect = score([1, 2, 3], [1, 2, 3])
    assert perfect["IOA"] == 1 and perfect["R2"] == 1


def test_folds_split_stations_or_whole_groups():
    folds = assign_folds(100, 10, seed=0)
    assert np.bincount(folds).tolist() == [10] * 10
    groups = np.repeat(np.arange(20), 5)
    gfolds = assign_folds(100, 4, seed=0, groups=groups)
    assert all(len(set(gfolds[groups == g])) == 1 for g in range(20))
    with pytest.raises(AirmapInputError, match="groups"):
        assign_folds(10, 5, 0, groups=np.repeat([0, 1], 5))


def test_cross_validation_predicts_every_station_held_out(field_stations):
    cv = cross_validate(field_stations, "idw", folds=5, seed=1)
    assert np.isfinite(cv.predicted).all()
    # held out, so no station predicts itself exactly
    assert np.all(np.abs(cv.predicted - cv.observed) > 1e-9)
    assert cv.metrics["R2"] > 0.7 and cv.metrics["N"] == 80
