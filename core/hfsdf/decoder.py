"""Evaluating an HF-SDF decoder from numpy: the ONNX model (coded mode) or any object with the
same three methods (the torch single-map backend in models/hfsdf/single_map.py).

Points are (N, 3) float32 in the cube. Large batches are chunked so memory stays bounded; the
Jacobian branch (a forward pass with the height tangent and two backward sweeps, ~5 forward
passes per point) keeps a dozen (N, width) arrays per layer, so it gets smaller chunks.
"""
from __future__ import annotations

from typing import Optional, Protocol, Tuple

import numpy as np

from ..errors import ModelError

VALUE_CHUNK = 65536
JAC_CHUNK = 4096


class Decoder(Protocol):
    latent_dim: int

    def value(self, latent: Optional[np.ndarray], points: np.ndarray) -> np.ndarray: ...

    def value_and_dz(self, latent: Optional[np.ndarray], points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]: ...


class OnnxDecoder:
    """The exported graph (models/hfsdf/export.py): one branch per kind of query."""

    def __init__(self, model, value_chunk: int = VALUE_CHUNK, jac_chunk: int = JAC_CHUNK):
        self.model = model
        names = set(model.input_names)
        if not {"points", "points_dz"} <= names:
            raise ModelError(f"'{model.path}' is not an HF-SDF decoder graph (inputs {sorted(names)}): "
                             "export it with models/hfsdf/export.py.")
        self.has_latent = "latent" in names
        self.latent_dim = int(model.session.get_inputs()[0].shape[0]) if self.has_latent else 0
        self.value_chunk = value_chunk
        self.jac_chunk = jac_chunk
        self._empty = np.zeros((0, 3), np.float32)
        self.queries = 0  # points evaluated (value-equivalents are counted by the caller)

    def _feeds(self, latent, points=None, points_dz=None, points_jac=None):
        feeds = {"points": self._empty if points is None else points,
                 "points_dz": self._empty if points_dz is None else points_dz}
        if self.has_latent:
            if latent is None:
                raise ModelError("This HF-SDF model needs a latent code: fit one first.")
            feeds["latent"] = np.ascontiguousarray(latent, dtype=np.float32)
            feeds["points_jac"] = self._empty if points_jac is None else points_jac
        return feeds

    def value(self, latent, points):
        points = np.ascontiguousarray(points, dtype=np.float32)
        out = np.empty(len(points), np.float32)
        for s in range(0, len(points), self.value_chunk):
            p = points[s:s + self.value_chunk]
            out[s:s + len(p)] = self.model.run(self._feeds(latent, points=p), ["value"])[0]
        self.queries += len(points)
        return out

    def value_and_dz(self, latent, points):
        points = np.ascontiguousarray(points, dtype=np.float32)
        f = np.empty(len(points), np.float32)
        fz = np.empty(len(points), np.float32)
        for s in range(0, len(points), self.value_chunk):
            p = points[s:s + self.value_chunk]
            f[s:s + len(p)], fz[s:s + len(p)] = self.model.run(self._feeds(latent, points_dz=p),
                                                               ["value_dz", "dfdz"])
        self.queries += len(points)
        return f, fz

    def jacobian(self, latent, points):
        """(f, df/dz, df/dlatent (N, L), d(df/dz)/dlatent (N, L)), float64."""
        if not self.has_latent:
            raise ModelError("A single-map HF-SDF model has no latent to fit.")
        points = np.ascontiguousarray(points, dtype=np.float32)
        n, L = len(points), self.latent_dim
        f, fz = np.empty(n), np.empty(n)
        J, Jz = np.empty((n, L)), np.empty((n, L))
        for s in range(0, n, self.jac_chunk):
            p = points[s:s + self.jac_chunk]
            e = s + len(p)
            f[s:e], fz[s:e], J[s:e], Jz[s:e] = self.model.run(
                self._feeds(latent, points_jac=p), ["value_jac", "dfdz_jac", "jac_value", "jac_dfdz"])
        return f, fz, J, Jz
