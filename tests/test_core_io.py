"""Foundation item 4: raster and station I/O in core (no QGIS needed)."""
import os

import numpy as np
import pytest
import rasterio
from affine import Affine

from airmap.core.errors import AirmapInputError
from airmap.core.grid import Grid
from airmap.core.raster_io import read_raster, write_raster
from airmap.core.stations import Stations, average_per_cell, read_station_csv


def test_grid_from_extent_starts_at_upper_left_with_square_cells():
    g = Grid.from_extent(10, 20, 15.5, 23, 1.0, "EPSG:4326")
    assert g.shape == (3, 6)  # 5.5 wide -> 6 columns that cover it
    assert (g.transform.c, g.transform.f) == (10, 23)
    assert g.res == (1.0, 1.0)
    assert g.refined(3).shape == (9, 18) and g.refined(3).bounds == g.bounds
    with pytest.raises(AirmapInputError, match="PIXEL_SIZE"):
        Grid.from_extent(0, 0, 1, 1, 0.0)
    with pytest.raises(AirmapInputError, match="PIXEL_SIZE"):
        Grid.from_extent(0, 0, 1, 1, -2.0)


def test_geotiff_round_trip_keeps_crs_nodata_and_band_descriptions(tmp_path):
    grid = Grid(Affine(1000, 0, 500000, 0, -1000, 4000000), 5, 4, "EPSG:32633")
    data = np.arange(40, dtype=np.float32).reshape(2, 4, 5)
    data[1, 2, 3] = np.nan
    path = write_raster(str(tmp_path / "out.tif"), data, grid, ["2020-01-01T00:00:00", "2020-01-01T01:00:00"],
                        units="µg/m³")
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32633
        assert ds.nodata == -9999.0
        assert ds.compression is not None
        assert ds.descriptions == ("2020-01-01T00:00:00", "2020-01-01T01:00:00")
    back = read_raster(path)
    assert back.grid == grid
    np.testing.assert_array_equal(np.isnan(back.data), np.isnan(data))
    np.testing.assert_allclose(back.data[~np.isnan(data)], data[~np.isnan(data)])
    assert back.band_names[1] == "2020-01-01T01:00:00" and back.units == "µg/m³"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]  # no temp file left behind


def test_netcdf_time_stack_without_crs_is_read_as_wgs84_with_time_stamps(shared_data):
    r = read_raster(str(shared_data / "cams_pm25_0p75_20191231.nc"))
    assert r.data.shape == (4, 241, 480)
    assert r.grid.crs == "EPSG:4326"
    assert any("EPSG:4326" in n for n in r.notes)
    assert r.band_names == ["2019-12-31T15:00:00", "2019-12-31T18:00:00", "2019-12-31T21:00:00",
                            "2020-01-01T00:00:00"]
    assert r.grid.transform.a == pytest.approx(0.75) and r.grid.transform.f == pytest.approx(90.375)
    assert np.nanmax(r.data) > 100  # real PM2.5 hot spots


def test_netcdf_variable_can_be_chosen_and_multi_variable_file_needs_one(shared_data):
    path = str(shared_data / "tropomi_no2_nl_20211217T114745.nc")
    with pytest.raises(AirmapInputError, match="several variables"):
        read_raster(path)
    r = read_raster(path, "tropospheric_NO2_column_number_density")
    assert r.units == "mol/m2" and np.isnan(r.data).any() and np.nanmax(r.data) < 1e-2


def test_writer_refuses_to_overwrite_an_input(tmp_path):
    grid = Grid(Affine(1, 0, 0, 0, -1, 2), 2, 2, "EPSG:4326")
    src = write_raster(str(tmp_path / "in.tif"), np.ones((2, 2)), grid)
    before = open(src, "rb").read()
    with pytest.raises(AirmapInputError, match="one of the inputs"):
        write_raster(src, np.zeros((2, 2)), grid, protect=[src])
    assert open(src, "rb").read() == before


def test_stations_from_csv_drop_missing_values(shared_data, tmp_path):
    st = read_station_csv(str(shared_data / "cnemc_china_stations_20170411.csv"), "pm25")
    assert len(st) > 1000 and np.isfinite(st.values).all()
    csv = tmp_path / "s.csv"
    csv.write_text("lon,lat,v\n1,2,3\n1.5,2,\n2,3,nan\n")
    assert len(read_station_csv(str(csv), "v")) == 1


def test_several_stations_in_one_cell_are_averaged():
    grid = Grid.from_extent(0, 0, 4, 4, 1.0)
    st = Stations([0.2, 0.8, 2.5, 9.0], [3.5, 3.1, 0.5, 9.0], [10, 20, 7, 100])
    rows, cols, vals = average_per_cell(st, grid)
    found = {(int(r), int(c)): v for r, c, v in zip(rows, cols, vals)}
    assert found == {(0, 0): 15.0, (3, 2): 7.0}  # the station outside the grid is ignored
