"""Stored daily statistics and nightly reports (issue 7 fills this module; its tables come with
a migration of their own)."""

from __future__ import annotations

from peewee import Model

MODELS: list[type[Model]] = []
