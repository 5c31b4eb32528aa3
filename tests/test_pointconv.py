"""PointConv-UNet++ inference (core/pointconv.py) with the shipped ONNX models, torch-free."""
import numpy as np
import pytest

from airmap.core import pointconv as pc
from airmap.core.errors import AirmapInputError, ModelError
from airmap.core.grid import Grid
from airmap.core.metrics import score
from airmap.core.stations import Stations

SIZE = 96


def smooth_field(grid: Grid) -> np.ndarray:
    """A known smooth PM2.5 field: a regional gradient and two broad city plumes (µg/m³)."""
    xs, ys = grid.cell_centres()
    u = (xs - grid.bounds[0]) / (grid.bounds[2] - grid.bounds[0])
    v = (ys - grid.bounds[1]) / (grid.bounds[3] - grid.bounds[1])
    return (30 + 25 * u + 10 * v + 60 * np.exp(-((u - 0.3) ** 2 + (v - 0.6) ** 2) / 0.02)
            + 40 * np.exp(-((u - 0.7) ** 2 + (v - 0.3) ** 2) / 0.03))


def sample(grid: Grid, field: np.ndarray, n: int, seed: int) -> Stations:
    """Stations at random cell centres carrying the field's value there."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(grid.width * grid.height, n, replace=False)
    r, c = np.unravel_index(cells, grid.shape)
    xs, ys = grid.cell_centres()
    return Stations(xs[r, c], ys[r, c], field[r, c])


@pytest.fixture(scope="module")
def grid():
    return Grid.from_extent(0, 0, SIZE * 10_000.0, SIZE * 10_000.0, 10_000.0, "EPSG:3857")


@pytest.fixture(scope="module")
def field(grid):
    return smooth_field(grid)


@pytest.fixture(scope="module")
def stations(grid, field):
    return sample(grid, field, 120, seed=1)


@pytest.fixture(scope="module")
def run(grid, stations):
    return pc.predict_pm25(stations, grid, threads=1)


def test_reproduces_a_known_smooth_field(run, field):
    assert run.field.shape == field.shape and run.field.dtype == np.float32
    s = score(run.field, field)
    assert s["R2"] > 0.85, s
    assert s["NME"] < 0.12, s
    assert run.variant == "pm25" and run.factor == 1


def test_station_cells_keep_their_values(run, grid, stations):
    r, c = grid.rowcol(stations.x, stations.y)
    rel = np.abs(run.field[r, c] - stations.values) / stations.values
    assert np.median(rel) < 0.06, np.median(rel)
    assert np.percentile(rel, 90) < 0.15


def test_rotating_the_stations_rotates_the_output(run, grid, stations):
    # 90 degrees counter-clockwise about the centre of the square grid
    cx, cy = (grid.bounds[0] + grid.bounds[2]) / 2, (grid.bounds[1] + grid.bounds[3]) / 2
    turned = Stations(cx - (stations.y - cy), cy + (stations.x - cx), stations.values)
    out = pc.predict_pm25(turned, grid, threads=1).field
    expected = np.rot90(run.field)
    rel = np.sqrt(np.mean((out - expected) ** 2)) / expected.mean()
    assert rel < 0.05, rel


def test_deterministic(run, grid, stations):
    again = pc.predict_pm25(stations, grid, threads=1).field
    assert np.array_equal(again, run.field)


def test_optional_covariates_change_and_are_resampled(grid, stations, run):
    dem = np.full(grid.shape, 200.0)
    on_grid = pc.predict_pm25(stations, grid, covariates={"dem": dem}, threads=1)
    assert not any("No DEM or" in n for n in on_grid.notes)
    assert any("No urban fraction" in n for n in on_grid.notes)

    class Raster:  # a coarser raster (another grid) is resampled onto the output grid
        grid = Grid.from_extent(-50_000, -50_000, SIZE * 10_000.0 + 50_000, SIZE * 10_000.0 + 50_000,
                                30_000.0, "EPSG:3857")
        data = np.full((1, grid.height, grid.width), 200.0, np.float32)

    resampled = pc.predict_pm25(stations, grid, covariates={"dem": Raster()}, threads=1)
    assert np.allclose(resampled.field, on_grid.field, atol=1e-3)
    assert not np.allclose(on_grid.field, run.field)  # the DEM reaches the network


def test_meteorology_selects_the_met_variant(grid, field, stations):
    rng = np.random.default_rng(3)
    xs, ys = grid.cell_centres()
    pick = rng.choice(grid.width * grid.height, 80, replace=False)
    r, c = np.unravel_index(pick, grid.shape)
    rh = Stations(xs[r, c], ys[r, c], 50 + 20 * rng.random(80))
    ws = Stations(xs[r, c], ys[r, c], 2 + 3 * rng.random(80))
    met = pc.predict_pm25(stations, grid, met_stations={"rh": rh, "wind_speed": ws}, threads=1)
    assert met.variant == "met" and met.model_path.endswith(pc.MODEL_FILES["met"])
    assert score(met.field, field)["R2"] > 0.8
    only_rh = pc.predict_pm25(stations, grid, met_stations={"rh": rh}, threads=1)
    assert only_rh.variant == "pm25"
    assert any("also needs wind speed stations" in n for n in only_rh.notes)
    with pytest.raises(AirmapInputError, match="wind-speed"):
        pc.predict_pm25(stations, grid, model_path=pc.default_model_path("met"), threads=1)
    with pytest.raises(AirmapInputError, match="Unknown meteorological"):
        pc.predict_pm25(stations, grid, met_stations={"temperature": rh}, threads=1)


def test_sparse_network_runs_on_a_coarser_working_grid(field):
    fine = Grid.from_extent(0, 0, 300_000.0, 200_000.0, 1_000.0, "EPSG:3857")  # 300 x 200 cells
    xs, ys = fine.cell_centres()
    truth = 40 + 20 * np.sin(xs / 60_000.0) + 10 * np.cos(ys / 50_000.0)
    st = sample(fine, truth, 60, seed=5)
    res = pc.predict_pm25(st, fine, threads=1)
    assert res.factor > 1 and res.field.shape == fine.shape
    assert any("runs on cells" in n for n in res.notes)
    assert score(res.field, truth)["R2"] > 0.5
    same = pc.predict_pm25(st, fine, threads=1, resolution="output")
    assert same.factor == 1 and same.field.shape == fine.shape


def test_tiles_match_a_single_pass():
    g = Grid.from_extent(0, 0, 200.0, 150.0, 1.0, None)  # 200 x 150, not multiples of 16
    truth = smooth_field(g)
    st = sample(g, truth, 400, seed=7)
    whole = pc.predict_pm25(st, g, threads=1, resolution="output").field
    tiled = pc.predict_pm25(st, g, threads=1, resolution="output", tile=96, overlap=24).field
    assert whole.shape == tiled.shape == (150, 200)
    assert np.sqrt(np.mean((whole - tiled) ** 2)) / whole.mean() < 0.05
    assert score(tiled, truth)["R2"] > 0.8


def test_assemble_channels_layout_and_normalisation():
    value = np.zeros((4, 5), np.float32)
    mask = np.zeros((4, 5), np.float32)
    value[1, 2], mask[1, 2] = 60.0, 1
    value[3, 3] = 99.0  # not a station: ignored
    dem = np.full((4, 5), 500.0)
    dem[0, 0] = np.nan
    x = pc.assemble_channels("pm25", {"pm25": (value, mask)}, {"dem": dem}, scale=30.0)
    assert pc.channel_names("pm25") == ["pm25", "pm25_mask", "dem", "dem_present", "urban", "urban_present"]
    assert x.shape == (6, 4, 5)
    assert x[0, 1, 2] == 2.0 and x[0].sum() == 2.0 and x[1].sum() == 1.0
    assert x[2, 0, 0] == 0.0 and x[2, 1, 1] == 0.5 and x[3].min() == 1.0
    assert not x[4:].any()
    assert pc.pm25_scale(np.array([0.1, 0.2])) == pc.PM25_SCALE_FLOOR


def test_bad_input(grid, stations, tmp_path):
    far = Stations(stations.x + 1e8, stations.y, stations.values)
    with pytest.raises(AirmapInputError, match="inside the extent"):
        pc.predict_pm25(far, grid)
    nan = Stations(stations.x, stations.y, np.full(len(stations), np.nan))
    with pytest.raises(AirmapInputError, match="usable value"):
        pc.predict_pm25(nan, grid)
    with pytest.raises(AirmapInputError, match="grid is"):
        pc.predict_pm25(stations, grid, covariates={"dem": np.zeros((5, 5))})
    with pytest.raises(AirmapInputError, match="Unknown covariate"):
        pc.predict_pm25(stations, grid, covariates={"ndvi": np.zeros(grid.shape)})
    empty_dem = np.full(grid.shape, np.nan)
    with pytest.raises(AirmapInputError, match="no data inside the extent"):
        pc.predict_pm25(stations, grid, covariates={"dem": empty_dem})
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="corrupt"):
        pc.predict_pm25(stations, grid, model_path=str(broken))
    with pytest.raises(ModelError):
        pc.predict_pm25(stations, grid, model_path=str(tmp_path / "missing.onnx"))


def test_shipped_cards_declare_what_inference_needs():
    from airmap.core.onnx_runtime import load_model

    for variant in ("pm25", "met"):
        model = load_model(pc.default_model_path(variant), "pointconv", device="cpu")
        assert pc.check_card(model.card, variant) == variant
        assert "simulated" in model.card["trained_on"]
        assert model.card["training"]["seed"] is not None and model.card["training"]["command"]
