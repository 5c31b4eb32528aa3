"""Exceptions raised by core/ and translated into QgsProcessingException by the algorithms.

Core stays QGIS-free, so it raises these; every message tells the user what to change.
"""


class AirmapInputError(ValueError):
    """The user's input cannot be processed as given; the message names the fix."""


class ModelError(AirmapInputError):
    """A model file is missing, corrupt, or of another task than the one asked for."""


class Cancelled(RuntimeError):
    """The user cancelled the run; the caller removes any partial output."""
