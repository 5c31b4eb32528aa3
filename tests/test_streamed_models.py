"""ABPN, XVFI and DeepCAMS on an open raster read by band and window (core/band_source.py)
give the result of the whole-array path: the streamed normaliser equals the whole-input one,
tile-by-tile gap filling equals filling the whole band, and the outputs are equal."""
import numpy as np
import pytest
from affine import Affine

from airmap.core.band_source import FilledWindows, ReaderBands
from airmap.core.grid import Grid
from airmap.core.nodata import fill_nearest
from airmap.core.normalise import fit_normaliser, fit_normaliser_streamed
from airmap.core.raster_io import RasterReader, write_raster
from helpers import run_under_memory_cap


def _gappy(rng, shape, offset=20.0):
    data = (offset + 10 * rng.random(shape)).astype(np.float32)
    data[..., 5:9, 7:30] = np.nan                        # a gap wider than the halo
    data[..., rng.random(shape[-2:]) < 0.05] = np.nan    # scattered holes
    return data


def _tif(tmp_path, data, name="in.tif"):
    grid = Grid(Affine(0.1, 0, 100.0, 0, -0.1, 40.0), data.shape[2], data.shape[1], "EPSG:4326")
    times = [f"2020-01-01T{3 * i:02d}:00:00" for i in range(data.shape[0])]
    return write_raster(str(tmp_path / name), data, grid, band_names=times)


def _collect(shape):
    out = np.full(shape, -1.0, np.float32)
    written = []

    def sink(b, r0, rows):
        out[b, r0:r0 + len(rows)] = rows
        written.append((b, r0, len(rows)))
    return out, sink, written


@pytest.mark.parametrize("card", [None, {"log": "never"}])
@pytest.mark.parametrize("shift", [0.0, -25.0])
def test_streamed_normaliser_equals_whole(card, shift):
    rng = np.random.default_rng(5)
    data = np.exp(rng.normal(2, 1.5, (3, 47, 31))).astype(np.float32) + np.float32(shift)
    data[1, :, ::4] = np.nan
    data[2, :7] = 0.0
    blocks = lambda: (data[b, r:r + 6] for b in range(3) for r in range(0, 47, 6))
    whole, streamed = fit_normaliser(data, card), fit_normaliser_streamed(blocks, card)
    assert (whole.log, whole.offset, whole.non_negative) == (streamed.log, streamed.offset, streamed.non_negative)
    assert streamed.mu == pytest.approx(whole.mu, rel=1e-12)
    assert streamed.sigma == pytest.approx(whole.sigma, rel=1e-12)


def test_filled_windows_equal_filling_the_whole_band():
    rng = np.random.default_rng(6)
    band = rng.random((60, 70)).astype(np.float32)
    band[rng.random(band.shape) < 0.3] = np.nan
    band[10:40, 20:55] = np.nan                      # needs the halo to grow from 2
    expected = fill_nearest(band)
    view = FilledWindows(lambda b, w: band[w[0]:w[0] + w[2], w[1]:w[1] + w[3]], [0], 60, 70, halo=2)
    for r0, c0, h, w in [(0, 0, 60, 70), (12, 25, 9, 11), (30, 40, 20, 30), (55, 0, 5, 70)]:
        np.testing.assert_array_equal(view[:, r0:r0 + h, c0:c0 + w][0], expected[r0:r0 + h, c0:c0 + w])


def test_streamed_abpn_equals_whole_read(tmp_path):
    from airmap.core.superres import load_abpn, super_resolve

    data = _gappy(np.random.default_rng(2), (2, 40, 52))
    data[1] = np.nan                                  # an all-no-data band stays no-data
    model = load_abpn(threads=1)
    whole = super_resolve(data, model, tile=16, overlap=4)
    out, sink, written = _collect(whole.shape)
    with RasterReader(_tif(tmp_path, data)) as reader:
        assert super_resolve(ReaderBands(reader, strip_rows=7, halo=2), model, tile=16, overlap=4, sink=sink) is None
    np.testing.assert_allclose(out, whole, rtol=1e-5, atol=1e-5)
    assert np.array_equal(np.isnan(out), np.isnan(whole)) and np.isnan(out[1]).all()
    assert max(n for _, _, n in written) <= 16 * 3          # strips of at most one tile row


def test_streamed_xvfi_equals_whole_read(tmp_path):
    from airmap.core.frame_interp import interpolate_frames, load_xvfi

    data = _gappy(np.random.default_rng(3), (3, 50, 45))
    model = load_xvfi(threads=1)
    whole = interpolate_frames(data, model, tile=32, overlap=8)
    out, sink, written = _collect(whole.shape)
    with RasterReader(_tif(tmp_path, data)) as reader:
        interpolate_frames(ReaderBands(reader, strip_rows=9, halo=2), model, tile=32, overlap=8, sink=sink)
    np.testing.assert_allclose(out, whole, rtol=1e-5, atol=1e-4)
    assert np.array_equal(np.isnan(out), np.isnan(whole))
    np.testing.assert_array_equal(out[::3], data)           # input frames pass through
    assert max(n for _, _, n in written) <= 32


def test_streamed_deepcams_equals_whole_read(tmp_path):
    from airmap.core.deepcams import deepcams
    from airmap.core.frame_interp import load_xvfi
    from airmap.core.superres import load_abpn

    data = _gappy(np.random.default_rng(4), (2, 34, 36))
    models = load_xvfi(threads=1), load_abpn(threads=1)
    whole = deepcams(data, *models, tile_space=20, tile_time=96)
    out, sink, _ = _collect(whole.shape)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with RasterReader(_tif(tmp_path, data)) as reader:
        deepcams(ReaderBands(reader, strip_rows=5, halo=2), *models, tile_space=20, tile_time=96, sink=sink,
                 scratch=str(scratch))
    np.testing.assert_allclose(out, whole, rtol=1e-4, atol=1e-3)
    assert np.array_equal(np.isnan(out), np.isnan(whole))
    assert list(scratch.iterdir()) == []                    # the temporary XVFI frames are gone


CAPPED_XVFI = """
from airmap.core.band_source import ReaderBands
from airmap.core.frame_interp import interpolate_frames, load_xvfi
from airmap.core.raster_io import RasterReader, RasterWriter
model = load_xvfi(threads=1)
# CAP
reader = RasterReader({src!r})
if {whole}:
    interpolate_frames(reader.read_bands(), model, tile=128)     # the whole stack: must not fit
else:
    with RasterWriter({dst!r}, reader.grid, 3 * (reader.count - 1) + 1) as writer:
        interpolate_frames(ReaderBands(reader), model, tile=128, sink=writer.write)
print("done")
"""


def test_xvfi_on_a_stack_larger_than_a_memory_cap(tmp_path):
    """40 bands of 1200² float32 (220 MiB; two with data, the rest no-data so the network runs
    once and the test stays short) through streamed XVFI under a 180 MiB cap above start-up."""
    import rasterio

    from airmap.core.raster_io import RasterWriter

    side, count = 1200, 40
    grid = Grid(Affine(0.01, 0, 100.0, 0, -0.01, 40.0), side, side, "EPSG:4326")
    src, dst = str(tmp_path / "stack.tif"), str(tmp_path / "x3.tif")
    xs = np.arange(side, dtype=np.float32)
    with RasterWriter(src, grid, count) as writer:
        for b in range(count):
            for r0 in range(0, side, 256):
                ys = np.arange(r0, min(side, r0 + 256), dtype=np.float32)[:, None]
                rows = 40 + 20 * np.sin(xs / 50 + b) * np.cos(ys / 70) if b < 2 else np.full((len(ys), side), np.nan)
                writer.write(b, r0, rows.astype(np.float32))
    run_under_memory_cap(CAPPED_XVFI, 180, src=src, dst=dst)
    with rasterio.open(dst) as out, rasterio.open(src) as original:
        assert out.count == 3 * (count - 1) + 1 and (out.width, out.height) == (side, side)
        window = rasterio.windows.Window(600, 600, 4, 4)
        first, second = original.read(1, window=window), original.read(2, window=window)
        made = out.read(2, window=window)
        assert np.all(np.minimum(first, second) - 2 <= made) and np.all(made <= np.maximum(first, second) + 2)
        assert np.all(out.read(5, window=window) == out.nodata)     # pairs with a no-data frame stay no-data
