"""Classical baselines every model is measured against."""
from .bicubic import bicubic
from .idw import idw
from .kriging import ordinary_kriging
from .lineartime import linear_in_time

__all__ = ["bicubic", "idw", "ordinary_kriging", "linear_in_time"]
