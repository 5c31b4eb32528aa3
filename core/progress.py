"""A tiny progress/cancel channel so core loops can report without knowing about QGIS.

Algorithms wrap QgsProcessingFeedback in a ``Progress``; scripts and tests may pass None.
"""
from __future__ import annotations

from typing import Callable, Optional

from .errors import Cancelled


class Progress:
    """Reports a fraction in [0, 1] and raises ``Cancelled`` when the user cancels."""

    def __init__(self, report: Optional[Callable[[float], None]] = None,
                 is_cancelled: Optional[Callable[[], bool]] = None,
                 log: Optional[Callable[[str], None]] = None,
                 start: float = 0.0, stop: float = 1.0):
        self._report = report
        self._is_cancelled = is_cancelled
        self._log = log
        self._start = start
        self._stop = stop

    def check(self) -> None:
        if self._is_cancelled is not None and self._is_cancelled():
            raise Cancelled("Cancelled by the user.")

    def set(self, fraction: float) -> None:
        """Report progress of this stage and honour a pending cancel."""
        self.check()
        if self._report is not None:
            fraction = min(max(float(fraction), 0.0), 1.0)
            self._report(self._start + fraction * (self._stop - self._start))

    def info(self, message: str) -> None:
        if self._log is not None:
            self._log(message)

    def sub(self, start: float, stop: float) -> "Progress":
        """A child that maps its [0, 1] onto [start, stop] of this one."""
        span = self._stop - self._start
        return Progress(self._report, self._is_cancelled, self._log,
                        self._start + start * span, self._start + stop * span)


def ensure(progress: Optional[Progress]) -> Progress:
    """Core functions accept None for 'no reporting'."""
    return progress if progress is not None else Progress()
