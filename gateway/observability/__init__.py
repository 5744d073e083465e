"""Metrics, access/audit log and request ids: what the gateway records about each request.

Import the submodules directly: importing this package must not load prometheus_client, whose
multiprocess directory has to be chosen first (``serve --workers N``)."""
