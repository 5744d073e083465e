"""nginx on 127.0.0.1, one worker each: the fixed-JSON upstream, and the plain reverse proxy to compare."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.procs import Service, free_port, wait_for_port

UPSTREAM_BODY = (
    '{"total":2,"list":['
    '{"id":"64f0c1a2b3c4d5e6f","name":"Ada Lovelace","emailAddress":"ada@example.org",'
    '"status":"New","assignedUserName":"Admin","createdAt":"2024-05-01 12:00:00"},'
    '{"id":"64f0c1a2b3c4d5e70","name":"Grace Hopper","emailAddress":"grace@example.org",'
    '"status":"Assigned","assignedUserName":"Admin","createdAt":"2024-05-02 09:30:00"}]}'
)
"""A small Espo-style list answer; nginx returns it for every path and method, checking nothing."""


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def nginx_version() -> str:
    binary = nginx_binary()
    if binary is None:
        return "missing"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stderr or out.stdout).strip().split(": ", 1)[-1]


def _common(workdir: Path, name: str) -> str:
    temp = workdir / f"{name}-temp"
    temp.mkdir(parents=True, exist_ok=True)
    temp.chmod(0o777)  # a master started as root runs its worker as an unprivileged user
    paths = "".join(
        f"  {kind}_temp_path {temp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "worker_processes 1;\n"
        "daemon off;\n"
        f"pid {workdir / name}.pid;\n"
        f"error_log {workdir / name}-error.log warn;\n"
        "events { worker_connections 4096; multi_accept on; }\n"
        "http {\n"
        f"{paths}"
        "  keepalive_requests 1000000;\n"
        "  keepalive_timeout 75s;\n"
        "  server_tokens off;\n"
    )


def upstream_conf(workdir: Path, port: int) -> str:
    return (
        _common(workdir, "upstream")
        + "  access_log off;\n"
        + f"  server {{\n    listen 127.0.0.1:{port} reuseport backlog=1024;\n"
        + "    location / {\n"
        + "      default_type application/json;\n"
        + f"      return 200 '{UPSTREAM_BODY}';\n"
        + "    }\n  }\n}\n"
    )


def proxy_conf(workdir: Path, port: int, upstream_port: int) -> str:
    """A plain production-style reverse proxy: pooled keep-alive upstream connections, forwarding
    headers, and an access log line per request (to /dev/null, as the gateway's is in the benchmark)."""
    return (
        _common(workdir, "proxy")
        + "  access_log /dev/null combined;\n"
        + f"  upstream crm {{\n    server 127.0.0.1:{upstream_port};\n    keepalive 128;\n  }}\n"
        + f"  server {{\n    listen 127.0.0.1:{port} reuseport backlog=1024;\n"
        + "    location / {\n"
        + "      proxy_pass http://crm;\n"
        + "      proxy_http_version 1.1;\n"
        + '      proxy_set_header Connection "";\n'
        + "      proxy_set_header X-Forwarded-For $remote_addr;\n"
        + "      proxy_set_header X-Forwarded-Proto $scheme;\n"
        + "      proxy_set_header X-Forwarded-Host $host;\n"
        + "      proxy_set_header X-Request-ID $request_id;\n"
        + "    }\n  }\n}\n"
    )


def start_nginx(workdir: Path, name: str, conf: str, port: int) -> Service:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx-light)")
    conf_file = workdir / f"{name}.conf"
    conf_file.write_text(conf)
    log = (workdir / f"{name}.out").open("wb")
    process = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(conf_file), "-e", str(workdir / f"{name}-error.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    service = Service(name, process, port)
    wait_for_port(service, workdir / f"{name}-error.log")
    return service


def start_upstream(workdir: Path) -> Service:
    """The benchmark's upstream (``upstream_conf``) on a free port."""
    port = free_port()
    return start_nginx(workdir, "upstream", upstream_conf(workdir, port), port)


def start_plain_proxy(workdir: Path, upstream_port: int, name: str = "proxy") -> Service:
    """nginx as a plain reverse proxy (``proxy_conf``) to ``upstream_port``, on a free port."""
    port = free_port()
    return start_nginx(workdir, name, proxy_conf(workdir, port, upstream_port), port)
