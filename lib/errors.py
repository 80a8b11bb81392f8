"""The library's own errors: each message says what went wrong and what to do about it.

The command line prints a :class:`BookError` as one line (``--debug`` adds the traceback) and
exits with status 2; anything else is a bug and keeps its traceback. Each class also derives
from the built-in exception that code outside the library would expect (``ValueError`` for bad
input, ``OSError`` for storage), so ``except ValueError`` keeps working.
"""
from __future__ import annotations


class BookError(Exception):
    """An error of the library's own making: bad input, missing data, a broken cache."""


class InputError(BookError, ValueError):
    """Bad input: an unknown task, model, profile, parameter or domain; a value out of range; records
    that do not fit the task."""


class DataError(BookError, RuntimeError):
    """A data file is missing, corrupt or cannot be fetched."""


class ModelError(BookError, OSError):
    """A model cannot be found or loaded (no weights, only a pickle, no network for a hub id)."""


class CheckpointError(BookError, RuntimeError):
    """A stored model does not match its manifest, or a run cannot be resumed."""


class StorageError(BookError, OSError):
    """The cache cannot be written: the folder is not writable, or the disk is full."""


class SetupError(BookError, ImportError):
    """A package the book needs is not installed; the message names the ``pip install``."""
