"""The explicit list of directories: which dialect can look people up, and how."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.dialects.civicrm.people import CiviCrmDirectory
from gateway.dialects.directory import Directory
from gateway.dialects.espocrm.people import EspoCrmDirectory

DIRECTORIES: Mapping[str, Directory] = {"civicrm": CiviCrmDirectory(), "espocrm": EspoCrmDirectory()}


def directory_for(dialect: str) -> Directory | None:
    return DIRECTORIES.get(dialect)
