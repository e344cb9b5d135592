"""The demo's errors."""

from __future__ import annotations


class DemoError(ValueError):
    """The demo could not be built."""


class NotADemoDirectory(DemoError):
    """The target may belong to a real node; demo data never enters one."""
