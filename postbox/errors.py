"""Domain errors: one base class; the web and CLI edges map each kind to a status or exit code."""
from __future__ import annotations


class PostboxError(Exception):
    """Base of every error the services raise on purpose. Its message is safe to show."""

    kind = "error"


class ConfigError(PostboxError):
    """A setting is malformed or a required key file is missing."""

    kind = "config"
