"""No-data handling shared by the resampling methods."""
import numpy as np


def fill_nearest(band: np.ndarray) -> np.ndarray:
    """NaN cells take the value of the nearest valid cell, so interpolation kernels and
    networks see context instead of holes; callers mask those cells again afterwards."""
    from scipy.ndimage import distance_transform_edt

    missing = ~np.isfinite(band)
    if not missing.any():
        return band
    _, (ri, ci) = distance_transform_edt(missing, return_indices=True)
    return band[ri, ci]
