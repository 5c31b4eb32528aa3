"""HF-SDF numerics without torch or QGIS: the cube, sampling, latent fitting and both
read-outs, on analytic decoders whose exact surface is known, and the shipped ONNX model."""
import numpy as np
import pytest

from airmap.core.errors import AirmapInputError
from airmap.core.grid import Grid
from airmap.core.hfsdf import Cube, Observations, lift_map, read_surface, reconstruct
from airmap.core.hfsdf.latent import FitProblem, fit_latent, map_loss
from airmap.core.hfsdf.prior import HeightPrior
from airmap.core.hfsdf.readout import ReadoutStats, marching_cubes, root_find
from airmap.core.hfsdf.sampling import bias_samples, global_samples, knn_sigma, nonsurface_samples
from airmap.core.stations import Stations


class HeightField:
    """f = g(z - h(x, y)) with g increasing, g(0) = 0: an exact surface z = h."""

    latent_dim = 0

    def __init__(self, h, curved=False):
        self.h = h
        self.curved = curved
        self.queries = 0

    def _g(self, d):
        return d + 0.3 * np.tanh(3 * d) if self.curved else d

    def value(self, latent, p):
        self.queries += len(p)
        return self._g(p[:, 2].astype(np.float64) - self.h(p[:, 0], p[:, 1])).astype(np.float32)

    def value_and_dz(self, latent, p):
        d = p[:, 2].astype(np.float64) - self.h(p[:, 0], p[:, 1])
        slope = 1 + 0.9 / np.cosh(3 * d) ** 2 if self.curved else np.ones_like(d)
        return self._g(d).astype(np.float32), slope.astype(np.float32)


class LinearLatent:
    """f = z - sum_k latent_k b_k(x, y): Jacobians are exact, so the fit must recover latent."""

    latent_dim = 6

    def _basis(self, x, y):
        return np.stack([np.ones_like(x), x, y, x * y, x ** 2, np.sin(2 * y)], 1)

    def value_and_dz(self, latent, p):
        f = p[:, 2] - self._basis(p[:, 0], p[:, 1]) @ np.asarray(latent, np.float64)
        return f, np.ones(len(p))

    def value(self, latent, p):
        return self.value_and_dz(latent, p)[0]

    def jacobian(self, latent, p):
        f, fz = self.value_and_dz(latent, p)
        return f, fz, -self._basis(p[:, 0], p[:, 1]), np.zeros((len(p), self.latent_dim))


def bump(x, y):
    return 0.8 * np.exp(-((x - 0.2) ** 2 + (y + 0.1) ** 2) / 0.3) - 0.4


def plane(x, y):
    return 0.5 * x - 0.3 * y + 0.1


# --- cube ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e-5, 1.0, 3000.0])
def test_cube_round_trip_any_magnitude(scale):
    v = scale * np.array([0.2, 1.7, 0.9, 1.2])
    cube = Cube.fit((10.0, 50.0, 12.0, 51.0), v)
    z = cube.value_to_cube(v)
    assert z.min() == pytest.approx(-1) and z.max() == pytest.approx(1)
    assert np.allclose(cube.value_from_cube(z), v, rtol=1e-12, atol=0)
    assert cube.x_to_cube(10.0) == pytest.approx(-1) and cube.y_to_cube(51.0) == pytest.approx(1)
    assert cube.distance_from_cube(2.0) == pytest.approx(v.max() - v.min())


def test_cube_constant_map_and_all_nodata():
    cube = Cube.fit((0, 0, 1, 1), np.full(5, 7.5))
    assert np.allclose(cube.value_to_cube([7.5]), 0) and cube.value_from_cube(0.0) == pytest.approx(7.5)
    with pytest.raises(AirmapInputError, match="no valid value"):
        Cube.fit((0, 0, 1, 1), np.full(3, np.nan))


def test_lift_map_uses_cell_centres_and_skips_nodata():
    data = np.arange(12, dtype=float).reshape(3, 4)
    data[1, 2] = np.nan
    pts, cube = lift_map(data, (0, 0, 4, 3))
    assert pts.shape == (11, 3)
    assert pts[0, 0] == pytest.approx(-0.75) and pts[0, 1] == pytest.approx(2 / 3)  # row 0 is north
    assert pts[:, 2].min() == pytest.approx(-1) and pts[:, 2].max() == pytest.approx(1)


def test_sampling_follows_the_public_code():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (800, 3)).astype(np.float32)
    ns = nonsurface_samples(pts, rng)
    assert ns.shape == (900, 3)                                  # N local + N/8 global
    assert (ns[:800] - pts).std() == pytest.approx(0.01, rel=0.1)
    g = global_samples(5000, rng)
    assert g.min() >= -1.8 and g.max() <= 1.8 and g.min() < -1.7
    shifted, delta = bias_samples(pts, rng)
    assert np.allclose(shifted[:, :2], pts[:, :2]) and np.allclose(shifted[:, 2] - pts[:, 2], delta, atol=1e-6)
    assert np.abs(delta).max() <= 0.01 and delta.std() == pytest.approx(0.001, rel=0.15)
    sig = knn_sigma(pts, 50)
    assert sig.shape == (800,) and (sig > 0).all()


# --- read-outs ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["secant", "newton"])
def test_root_finding_finds_exact_surface(method):
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, (5000, 2))
    dec = HeightField(bump, curved=True)
    stats = ReadoutStats()
    z, res = root_find(dec, None, xy, steps=8, method=method, with_residual=True, stats=stats)
    assert np.abs(z - bump(xy[:, 0], xy[:, 1])).max() < 1e-5
    assert res.max() < 1e-5 and stats.max_residual < 1e-5
    assert stats.queries < 8 * 2 * len(xy)   # converged pixels drop out


class TwoCrossings:
    """f = (z - h)(z - h + 0.3): the true surface z = h plus a spurious crossing 0.3 below it,
    as an imperfectly trained decoder can have."""

    latent_dim = 0

    def __init__(self, h):
        self.h = h

    def value(self, latent, p):
        d = p[:, 2].astype(np.float64) - self.h(p[:, 0], p[:, 1])
        return (d * (d + 0.3)).astype(np.float32)


def test_root_finding_started_at_the_observations_picks_their_crossing():
    grid = Grid.from_extent(-1.0, -1.0, 1.0, 1.0, 0.02, None)      # 100 x 100, cube = grid
    coarse = grid.coarsened(10)
    cx, cy = coarse.cell_centres()
    obs = Observations.from_raster(bump(cx, cy), coarse)
    cube = obs.cube()
    points = cube.lift(obs.x, obs.y, obs.values)
    dec = TwoCrossings(lambda x, y: cube.value_to_cube(bump(x, y)))
    gx, gy = grid.cell_centres()
    truth = cube.value_to_cube(bump(gx, gy))
    z_zero, _, _ = read_surface(dec, None, cube, grid)
    z_prior, _, _ = read_surface(dec, None, cube, grid, prior=HeightPrior(points))
    assert np.abs(z_zero - truth).max() > 0.2          # started at z = 0, some pixels take the wrong one
    assert np.abs(z_prior - truth).max() < 1e-4


def test_height_prior_interpolates_and_extends_to_the_edges():
    pts = np.array([[-0.5, -0.5, 0.0], [0.5, -0.5, 1.0], [-0.5, 0.5, 2.0], [0.5, 0.5, 3.0]])
    prior = HeightPrior(pts)
    z = prior(np.array([[0.0, 0.0], [0.5, 0.0], [-0.9, -0.9], [0.9, 0.9]]))
    assert np.allclose(z, [1.5, 2.0, 0.0, 3.0])          # linear inside, nearest outside the hull
    collinear = HeightPrior(np.array([[0.0, 0.0, 1.0], [0.5, 0.0, 2.0], [1.0, 0.0, 3.0]]))
    assert np.allclose(collinear(np.array([[0.45, 0.3]])), [2.0])   # no triangles: nearest


def test_marching_cubes_agrees_with_root_finding():
    xs = np.linspace(-0.95, 0.95, 40)
    ys = np.linspace(0.95, -0.95, 30)
    dec = HeightField(bump, curved=True)
    gx, gy = np.meshgrid(xs, ys)
    z_rf, _ = root_find(dec, None, np.stack([gx.ravel(), gy.ravel()], 1))
    stats = ReadoutStats()
    z_mc = marching_cubes(dec, None, xs, ys, levels=96, slab_rows=7, stats=stats)
    assert z_mc.shape == (30, 40)
    truth = bump(gx, gy)
    assert np.abs(z_rf.reshape(30, 40) - truth).max() < 1e-5
    assert np.abs(z_mc - truth).max() < 0.01        # limited by the level spacing (0.025)
    assert stats.queries >= 30 * 40 * 96


def test_plane_and_bump_reconstructed_at_requested_resolution():
    grid = Grid.from_extent(5.0, 45.0, 7.0, 46.0, 0.025, "EPSG:4326")   # 80 x 40
    coarse = Grid.from_extent(5.0, 45.0, 7.0, 46.0, 0.25, "EPSG:4326")
    for h in (plane, bump):
        cx, cy = coarse.cell_centres()
        # value = 1e-5 * (h + 2): TROPOMI-like magnitudes
        cube0 = Cube.fit(coarse.bounds, [0, 1])
        vals = 1e-5 * (h(cube0.x_to_cube(cx), cube0.y_to_cube(cy)) + 2)
        obs = Observations.from_raster(vals, coarse)
        cube = obs.cube()
        # an exact decoder of the true map in this observation's cube
        truth = lambda x, y: cube.value_to_cube(1e-5 * (h(x, y) + 2))
        for surface in ("root", "marching-cubes"):
            z, _, _ = read_surface(HeightField(truth), None, cube, grid, surface=surface, mc_levels=256)
            values = cube.value_from_cube(z)
            assert values.shape == grid.shape == (40, 80)
            gx, gy = grid.cell_centres()
            want = 1e-5 * (h(cube.x_to_cube(gx), cube.y_to_cube(gy)) + 2)
            tol = 1e-10 if surface == "root" else 0.02 * np.ptp(want)
            assert np.abs(values - want).max() < tol


# --- latent fitting ---------------------------------------------------------------------

def test_latent_fit_recovers_a_known_latent():
    dec = LinearLatent()
    rng = np.random.default_rng(2)
    true = np.array([0.1, -0.3, 0.25, 0.2, -0.15, 0.1])
    xy = rng.uniform(-1, 1, (300, 2))
    pts = np.column_stack([xy, dec._basis(xy[:, 0], xy[:, 1]) @ true]).astype(np.float32)
    res = fit_latent(dec, pts, iterations=10)
    assert np.abs(res.latent - true).max() < 2e-3
    assert res.loss < 1e-3 and res.history[-1] <= res.history[0]
    assert res.jacobians <= 10


def test_fit_problem_is_seeded_and_capped():
    pts = np.random.default_rng(0).uniform(-1, 1, (5000, 3)).astype(np.float32)
    a, b = FitProblem.build(pts, 3, 1000), FitProblem.build(pts, 3, 1000)
    assert a.surface.shape == (1000, 3) and np.array_equal(a.samples, b.samples)
    with pytest.raises(AirmapInputError, match="at least 3"):
        FitProblem.build(pts[:2], 0)


# --- observations and bad input -------------------------------------------------------------

def test_observations_from_stations_average_duplicates():
    st = Stations([1, 1, 2, 3, np.nan], [1, 1, 2, 0, 1], [10, 20, 5, 7, 1])
    obs = Observations.from_stations(st)
    assert len(obs.values) == 3 and 15 in obs.values
    assert obs.bounds == (1, 0, 3, 2)


def test_bad_input_is_explained():
    grid = Grid.from_extent(0, 0, 10, 10, 1.0)
    with pytest.raises(AirmapInputError, match="no valid value"):
        Observations.from_raster(np.full((10, 10), np.nan), grid)
    with pytest.raises(AirmapInputError, match="at least 3"):
        Observations.from_stations(Stations([1, 2], [1, 2], [3, 4]))
    data = np.random.default_rng(0).random((10, 10))
    obs = Observations.from_raster(data, grid)
    with pytest.raises(AirmapInputError, match="does not overlap"):
        reconstruct(obs, Grid.from_extent(100, 100, 110, 110, 1.0), decoder=HeightField(plane))
    with pytest.raises(AirmapInputError, match="MODE"):
        reconstruct(obs, grid, mode="magic")
    with pytest.raises(AirmapInputError, match="SURFACE"):
        reconstruct(obs, grid, surface="magic")
