"""The chart's shutdown numbers add up: the kubelet's termination grace covers preStop, the gateway's
grace (drain and clean-up, counted once) and a margin for the process to exit."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_support import CHART, PRODUCTION_VALUES, load_yaml

MARGIN_SECONDS = 5


def merged(path: Path | None) -> dict[str, Any]:
    values = load_yaml(CHART / "values.yaml")
    assert isinstance(values, dict)
    if path is not None:
        override = load_yaml(path)
        assert isinstance(override, dict)
        values = {**values, **override, "gateway": {**values["gateway"], **override.get("gateway", {})}}
    return values


@pytest.mark.parametrize("path", [None, PRODUCTION_VALUES], ids=["defaults", "production"])
def test_termination_grace_covers_prestop_plus_grace_plus_margin(path: Path | None) -> None:
    values = merged(path)
    gateway = values["gateway"]
    needed = gateway["preStopSleepSeconds"] + math.ceil(gateway["graceSeconds"]) + MARGIN_SECONDS
    assert values["terminationGracePeriodSeconds"] >= needed
