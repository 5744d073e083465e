"""The explicit list of dialects: importing a module registers it."""

from __future__ import annotations

from gateway.dialects import civicrm, espocrm
from gateway.dialects.base import factory_for, names

__all__ = ["civicrm", "espocrm", "factory_for", "names"]
