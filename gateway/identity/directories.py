"""The explicit list of directories: importing a module registers its dialect's look-ups."""

from __future__ import annotations

from gateway.dialects import civicrm_people, espocrm_people
from gateway.identity.directory import Directory, lookup_directory

__all__ = ["civicrm_people", "directory_for", "espocrm_people"]


def directory_for(dialect: str) -> Directory | None:
    return lookup_directory(dialect)
