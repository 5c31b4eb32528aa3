"""The shared training-data interface (core/training_data.py)."""
import numpy as np
import pytest

from airmap.core.errors import AirmapInputError
from airmap.core.stations import Stations
from airmap.core.training_data import COVARIATES, batches, load_scenario, samples, scenarios


def test_scenarios_are_reproducible_and_differ_from_each_other():
    a = list(scenarios(2, size=24, days=1, seed=4))
    b = list(scenarios(2, size=24, days=1, seed=4))
    assert [s.seed for s in a] == [s.seed for s in b]
    np.testing.assert_array_equal(a[1].pm25_hourly, b[1].pm25_hourly)
    assert not np.array_equal(a[0].pm25_hourly, a[1].pm25_hourly)
    # Varied settings: the scenarios do not share one emission level.
    assert a[0].config.urban_emission != a[1].config.urban_emission


def test_cache_returns_the_same_scenario(tmp_path):
    fresh = list(scenarios(1, size=24, days=1, seed=9, cache_dir=str(tmp_path)))[0]
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    cached = list(scenarios(1, size=24, days=1, seed=9, cache_dir=str(tmp_path)))[0]
    for name in ("pm25_hourly", "rh_hourly", "u_hourly", "dem", "urban"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(fresh, name))
    assert cached.grid == fresh.grid and cached.times == fresh.times
    assert cached.budget == fresh.budget
    # A corrupt cache file is rebuilt instead of failing.
    files[0].write_bytes(b"not a zip")
    rebuilt = list(scenarios(1, size=24, days=1, seed=9, cache_dir=str(tmp_path)))[0]
    np.testing.assert_array_equal(rebuilt.pm25_hourly, fresh.pm25_hourly)
    assert load_scenario(str(files[0])).seed == fresh.seed


def test_samples_hold_fine_coarse_stations_and_covariates():
    got = list(samples(1, size=24, days=2, seed=1, factor=3, n_stations=20))
    assert len(got) == 2
    s = got[1]
    assert s.fine.shape == (24, 24) and s.coarse.shape == (8, 8)
    assert s.coarse[2, 5] == pytest.approx(s.fine[6:9, 15:18].mean(), rel=1e-5)
    assert isinstance(s.stations, Stations) and len(s.stations) == 20
    assert s.covariates.shape == (len(COVARIATES), 24, 24) and s.covariate_names == COVARIATES
    # The network is fixed, the values change from day to day.
    np.testing.assert_array_equal(got[0].stations.x, got[1].stations.x)
    assert not np.array_equal(got[0].stations.values, got[1].stations.values)


def test_batches_stack_samples():
    out = list(batches(3, count=2, size=24, days=2, seed=2, n_stations=10))
    assert [b.fine.shape[0] for b in out] == [3, 1]
    assert out[0].covariates.shape == (3, len(COVARIATES), 24, 24)
    assert out[0].coarse.shape == (3, 8, 8) and len(out[0].stations) == 3
    with pytest.raises(AirmapInputError):
        next(batches(0, count=1))
    with pytest.raises(AirmapInputError):
        next(samples(1, size=25, factor=3))
