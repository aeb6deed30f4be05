"""The exceptions `connector` raises: one small tree, caught where a user-facing message is made."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error raised while bringing data in."""


class FitDecodeError(ConnectorError):
    """A file could not be turned into any activity (not FIT, no records, no session...)."""


class SourceError(ConnectorError):
    """An input (file, folder, archive member) cannot be read safely."""


class FileTooLargeError(SourceError):
    """A single file is over the configured size limit."""


class UnsafeArchiveError(SourceError):
    """An archive looks like a zip bomb or is otherwise refused."""
