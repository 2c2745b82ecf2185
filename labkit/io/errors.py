"""labkit's own errors: what a user handed over cannot be used, and the message says which input and why.

Both subclass the built-in error a caller would already catch (``ValueError``), so code written
against the built-ins keeps working; the CLI turns every :class:`LabkitError` into one line on
stderr and exit status 2.
"""
from __future__ import annotations


class LabkitError(Exception):
    """Base of labkit's own errors."""


class InputError(LabkitError, ValueError):
    """An input file or array labkit cannot use (damaged, empty, wrong shape, type or range); the message
    names the file or argument."""
