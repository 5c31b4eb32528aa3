"""Classical baselines every model is measured against."""
from .bicubic import bicubic
from .idw import idw, idw_at
from .kriging import kriging_at, ordinary_kriging
from .lineartime import linear_in_time

__all__ = ["bicubic", "idw", "idw_at", "ordinary_kriging", "kriging_at", "linear_in_time"]
