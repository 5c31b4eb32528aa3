"""``core/batch``: any airmap method over a long archive, on Dask (xarray + dask + zarr).

* ``archive``: what goes in — a CF NetCDF/Zarr with a time axis, a folder of GeoTIFFs, a
  multi-band raster (bands = time steps) or a long-format station table — as frames;
* ``methods``: every method as a function of one frame (or one pair of frames);
* ``scheduler``: in-process, ``local:N`` (a LocalCluster) or a scheduler address;
* ``engine``: the graph (one task per output time chunk), the CF output and resuming.
"""
from .engine import BatchResult, run_batch
from .methods import METHODS

__all__ = ["run_batch", "BatchResult", "METHODS"]
