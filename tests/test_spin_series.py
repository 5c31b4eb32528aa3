"""Station time series (long format), wind and the graphs of SPIN / IGNNK (no QGIS)."""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from airmap.core.errors import AirmapInputError
from airmap.core.timeseries import graphs
from airmap.core.timeseries.series import require_usable, series_from_records
from airmap.core.timeseries.wide import long_records, read_wide_csv
from airmap.core.timeseries.wind import direction_degrees, wind_uv

T0 = datetime(2014, 11, 1, 0)


def records(stations=3, hours=5):
    rows = []
    for s in range(stations):
        for h in range(hours):
            rows.append((116.0 + 0.1 * s, 40.0, T0 + timedelta(hours=h), 10.0 * s + h, f"s{s}"))
    return rows


def build(rows, with_ids=True):
    lon, lat, t, v, ids = zip(*rows)
    return series_from_records(lon, lat, t, v, ids if with_ids else None)


def test_long_format_is_a_stations_by_times_table():
    s = build(records())
    assert s.values.shape == (3, 5)
    assert list(s.ids) == ["s0", "s1", "s2"]
    assert s.values[2, 4] == 24.0 and s.step == np.timedelta64(3600, "s")


def test_unsorted_input_gives_the_same_table():
    rows = records()
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    a, b = build(rows), build(shuffled)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.times, b.times)


def test_stations_told_apart_by_geometry_without_ids():
    s = build(records(), with_ids=False)
    assert len(s) == 3 and np.allclose(sorted(s.lon), [116.0, 116.1, 116.2])


def test_gaps_become_nan_and_are_reported():
    rows = [r for r in records() if not (r[4] == "s1" and r[2] in (T0 + timedelta(hours=2), T0 + timedelta(hours=3)))]
    rows.append((116.1, 40.0, T0 + timedelta(hours=3), float("nan"), "s1"))  # a NULL value
    s = build(rows)
    assert np.isnan(s.values[1, 2]) and np.isnan(s.values[1, 3]) and np.isfinite(s.values[1, [0, 1, 4]]).all()
    assert any("gaps" in n for n in s.notes)


def test_duplicate_times_are_averaged_and_reported():
    rows = records() + [(116.0, 40.0, T0, 20.0, "s0")]   # s0 at T0: 0 and 20
    s = build(rows)
    assert s.values[0, 0] == 10.0
    assert any("more than once" in n for n in s.notes)


def test_mixed_time_zones_are_rejected_clearly():
    rows = records()
    utc = [(a, b, t.replace(tzinfo=timezone.utc) if i % 2 else t, v, s) for i, (a, b, t, v, s) in enumerate(rows)]
    with pytest.raises(AirmapInputError, match="mixes time zones"):
        build(utc)
    plus8 = timezone(timedelta(hours=8))
    text = [(a, b, (t.replace(tzinfo=plus8) if i % 2 else t.replace(tzinfo=timezone.utc)).isoformat(), v, s)
            for i, (a, b, t, v, s) in enumerate(rows)]
    with pytest.raises(AirmapInputError, match="UTC\\+0800"):
        build(text)


def test_one_zone_is_kept_as_its_label():
    plus8 = timezone(timedelta(hours=8))
    s = build([(a, b, t.replace(tzinfo=plus8), v, i) for a, b, t, v, i in records()])
    assert s.zone == "UTC+0800" and s.times[0] == np.datetime64("2014-11-01T00:00:00")


def test_iso_text_and_off_step_times():
    rows = [(a, b, t.strftime("%Y-%m-%dT%H:%M:%S"), v, s) for a, b, t, v, s in records()]
    assert build(rows).values.shape == (3, 5)
    rows.append((116.0, 40.0, "2014-11-01T00:30:00", 1.0, "s0"))
    with pytest.raises(AirmapInputError, match="not on the series"):
        build(rows)
    with pytest.raises(AirmapInputError, match="not times"):
        build(records()[:-1] + [(116.0, 40.0, "yesterday", 1.0, "s0")])


def test_one_station_and_no_overlap_are_refused():
    with pytest.raises(AirmapInputError, match="at least 2"):
        require_usable(build(records(stations=1)))
    apart = [(116.0, 40.0, T0 + timedelta(hours=h), 1.0, "a") for h in range(3)] + \
            [(116.1, 40.0, T0 + timedelta(hours=h), 1.0, "b") for h in range(3, 6)]
    with pytest.raises(AirmapInputError, match="do not overlap"):
        require_usable(build(apart))


def test_wide_csv_to_long_records(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("datetime,a,b,c\n2014/05/01 01:00:00,1,,3\n2014/05/01 02:00:00,4,5,\n")
    columns, times, values = read_wide_csv(str(path))
    assert columns == ["a", "b", "c"] and times[1] == np.datetime64("2014-05-01T02:00:00")
    recs, missing = long_records(columns, times, values, {"a": (116.0, 40.0), "b": (116.1, 40.0)})
    assert missing == ["c"] and len(recs) == 3      # the empty cell of b is a gap, not a record
    s = series_from_records([r[1] for r in recs], [r[2] for r in recs], [r[3] for r in recs],
                            [r[4] for r in recs], [r[0] for r in recs])
    assert np.isnan(s.values[1, 0]) and s.values[1, 1] == 5


def test_compass_points_and_degrees():
    deg = direction_degrees(["N", "ENE", "SW", "270", 90.0, "", None, "C"])
    assert np.allclose(deg[:5], [0, 67.5, 225, 270, 90]) and np.isnan(deg[5:]).all()
    with pytest.raises(AirmapInputError, match="compass"):
        direction_degrees(["north-ish"])
    u, v = wind_uv(np.array([2.0, 2.0]), np.array([270.0, 0.0]))   # from the west, from the north
    assert np.allclose([u[0], v[0]], [2, 0], atol=1e-9) and np.allclose([u[1], v[1]], [0, -2], atol=1e-9)


def test_advection_weight_flips_when_the_wind_turns():
    lon, lat = np.array([116.0, 116.1]), np.array([40.0, 40.0])   # station 1 east of station 0
    dx, dy, d = graphs.pair_offsets(lon, lat)
    from_west = graphs.advection_weights(dx, dy, d, np.full((2, 1), 3.0), np.zeros((2, 1)))[0]
    from_east = graphs.advection_weights(dx, dy, d, np.full((2, 1), -3.0), np.zeros((2, 1)))[0]
    assert from_west[1, 0] == pytest.approx(3.0) and from_west[0, 1] == 0   # 0 is upwind of 1
    assert from_east[0, 1] == pytest.approx(3.0) and from_east[1, 0] == 0
    across = graphs.advection_weights(dx, dy, d, np.zeros((2, 1)), np.full((2, 1), 3.0))[0]
    assert np.allclose(across, 0, atol=1e-9)                                # wind across the pair


def test_only_observed_nodes_send():
    lon, lat = np.array([116.0, 116.05, 116.1]), np.array([40.0, 40.0, 40.0])
    observed = np.array([[True], [False], [True]])
    dx, dy, d = graphs.pair_offsets(lon, lat)
    a = graphs.diffusion_supports(graphs.gaussian_kernel(d, 20, 60), observed)[0]
    assert np.allclose(a[:, 1], 0) and np.allclose(a.sum(axis=1), 1)
