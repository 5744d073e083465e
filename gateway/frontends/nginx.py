"""``crm-gateway frontend nginx``: an nginx config where ``auth_request`` asks the gateway and nginx
carries the bytes. GET/HEAD to a decision-mode upstream: decided, then proxied by nginx to the CRM with
the URI and headers the gateway answered; anything else: the gateway's proxy mode. A refusal is replayed
through the gateway's denial endpoint so the client sees the gateway's status, headers and body."""

from __future__ import annotations

from gateway.decision import contract
from gateway.frontends import cache as decision_cache
from gateway.frontends.cache import DecisionCache
from gateway.frontends.plan import ORIGINAL_HEADERS, READ_METHODS, Plan, Route

_HEADER = "# crm-auth-gateway front proxy for nginx (decision mode), made by `crm-gateway frontend nginx`.\n"


def var(name: str) -> str:
    """The nginx variable for a decision value: ``set-Authorization`` -> ``crm_set_authorization``."""
    return "crm_" + name.lower().replace("-", "_")


def from_decision(header: str) -> str:
    """The variable holding a header of the decision's response: ``$upstream_http_x_crm_uri``."""
    return "$upstream_http_" + header.lower().replace("-", "_")


def _regex_literal(text: str) -> str:
    return "".join(f"[{ch}]" if ch in ".~" else ch for ch in text)


def _mode_entry(route: Route) -> str:
    hosts = (
        "(" + "|".join(_regex_literal(h.split(":")[0]) for h in route.hosts) + ")" if route.hosts else "[^ ]*"
    )
    read = "1" if route.decide else "[01]"
    path = f"{_regex_literal(route.prefix)}(/|$)" if route.prefix else ""
    return f'    "~^{read} {hosts} {path}" {"decide" if route.decide else "proxy"};\n'


def http_block(plan: Plan) -> str:
    """Everything that goes inside ``http { }``."""
    out = ["  # Which requests the gateway decides: the gateway's own routing order, first match wins.\n"]
    out.append('  map "$request_method:$content_length:$http_transfer_encoding" $crm_bodyless_read {\n')
    out.append("    default 0;\n")
    out += [f'    "{method}::" 1;\n    "{method}:0:" 1;\n' for method in READ_METHODS]
    out.append("  }\n")
    out.append('  map "$crm_bodyless_read $host $uri" $crm_mode {\n    default proxy;\n')
    out += [_mode_entry(route) for route in plan.routes]
    out.append("  }\n")
    out.append('  map $crm_upstream $crm_target {\n    default "";\n')
    out += [f'    "{t.upstream}" {t.scheme}://crm_up_{i};\n' for i, t in enumerate(plan.targets)]
    out.append('  }\n  map $crm_upstream $crm_target_host {\n    default "";\n')
    out += [f'    "{t.upstream}" "{t.netloc}";\n' for t in plan.targets]
    out.append('  }\n  map $crm_upstream $crm_target_sni {\n    default "";\n')
    out += [f'    "{t.upstream}" "{t.hostname}";\n' for t in plan.targets]
    out.append("  }\n")
    xrw = var("set-" + contract.REQUESTED_WITH)
    out.append(
        f'  map ${xrw} $crm_requested_with {{\n    "" $http_x_requested_with;\n    default ${xrw};\n  }}\n'
    )
    if plan.cache is not None:
        out += _cache_http(plan.cache)
    out.append(f"  upstream crm_gateway {{\n    server {plan.gateway};\n    keepalive 64;\n  }}\n")
    for i, t in enumerate(plan.targets):
        out.append(
            f"  upstream crm_up_{i} {{  # {t.upstream}\n    server {t.server};\n    keepalive 64;\n  }}\n"
        )
    out.append(_server(plan))
    return "".join(out)


def _server(plan: Plan) -> str:
    body_limit = plan.max_body_bytes + 64 * 1024
    return f"""  server {{
    listen {plan.listen};
    server_tokens off;
    recursive_error_pages on;
    client_max_body_size {body_limit};

    location = {plan.decision_path} {{
      internal;
{_auth_subrequest(plan.cache)}    }}
    location ^~ {plan.decision_path}/ {{
      internal;
    }}

    location / {{
      error_page 418 = @crm_decide;
      if ($crm_mode = decide) {{
        return 418;
      }}
{_proxy_mode()}    }}

    location @crm_decide {{
      auth_request {plan.decision_path};
{_decided(plan.cache)}    }}

    location @crm_denied {{
      rewrite ^ {plan.denial_path} break;
      proxy_pass http://crm_gateway;
      proxy_method GET;
      proxy_http_version 1.1;
      proxy_pass_request_body off;
      proxy_pass_request_headers off;
      proxy_set_header Connection "";
      proxy_set_header {contract.DENIAL} $crm_denial;
    }}
  }}
"""


def _cache_http(cache: DecisionCache) -> list[str]:
    """The cache zone, and what a cache hit must not replay: the request id and the rate-limit state of the
    answer that was kept (a hit gets nginx's own ``$request_id`` and no RateLimit headers)."""
    out = [f"  # Decision cache: allow answers are kept {cache.seconds} s (docs/decision-mode.md).\n"]
    out += [f"  {line}\n" for line in decision_cache.http_lines(cache)]
    for name, (kind, on_hit) in _FRESH_ON_HIT.items():
        out.append(
            f"  map $crm_decision_cache ${_fresh(name)} {{\n    HIT {on_hit};\n"
            f"    default ${var(kind + '-' + name)};\n  }}\n"
        )
    return out


_FRESH_ON_HIT = {
    "X-Request-ID": ("set", "$request_id"),
    "RateLimit": ("reply", '""'),
    "RateLimit-Policy": ("reply", '""'),
}


def _fresh(name: str) -> str:
    return "crm_fresh_" + name.lower().replace("-", "_")


def _value(kind: str, name: str, cache: DecisionCache | None) -> str:
    """The variable a header is sent from: the answer's, or with the cache on one a hit cannot make stale."""
    return "$" + (_fresh(name) if cache is not None and name in _FRESH_ON_HIT else var(f"{kind}-{name}"))


def _auth_subrequest(cache: DecisionCache | None) -> str:
    lines = [
        "proxy_pass http://crm_gateway;",
        "proxy_http_version 1.1;",
        "proxy_pass_request_body off;",
        'proxy_set_header Content-Length "";',
        'proxy_set_header Connection "";',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Original-Method $request_method;",
        "proxy_set_header X-Original-URI $request_uri;",
        "proxy_set_header X-Original-Content-Length $content_length;",
        "proxy_set_header X-Original-Transfer-Encoding $http_transfer_encoding;",
        'proxy_set_header X-Forwarded-Method "";',
        'proxy_set_header X-Forwarded-Uri "";',
        "proxy_set_header X-Forwarded-Host $host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_buffer_size 16k;",
        "proxy_buffers 4 16k;",
        *(decision_cache.subrequest_lines(cache) if cache is not None else ()),
    ]
    return "".join(f"      {line}\n" for line in lines)


def _proxy_mode() -> str:
    lines = [
        "proxy_pass http://crm_gateway;",
        "proxy_http_version 1.1;",
        "proxy_request_buffering off;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $http_host;",
        *(
            f'proxy_set_header {name} "";'
            for name in (*ORIGINAL_HEADERS, "X-Forwarded-Method", "X-Forwarded-Uri")
        ),
        f'proxy_set_header {contract.DENIAL} "";',
    ]
    return "".join(f"      {line}\n" for line in lines)


def _decided(cache: DecisionCache | None) -> str:
    lines = [
        *(["auth_request_set $crm_decision_cache $upstream_cache_status;"] if cache is not None else []),
        f"auth_request_set $crm_upstream {from_decision(contract.UPSTREAM)};",
        f"auth_request_set $crm_uri {from_decision(contract.URI)};",
        f"auth_request_set $crm_denial {from_decision(contract.DENIAL)};",
    ]
    for name in contract.SETTABLE:
        lines.append(f"auth_request_set ${var('set-' + name)} {from_decision(contract.set_header(name))};")
    for name in contract.REPLY:
        lines.append(
            f"auth_request_set ${var('reply-' + name)} {from_decision(contract.reply_header(name))};"
        )
    lines += [
        "error_page 401 403 = @crm_denied;",
        "proxy_pass $crm_target$crm_uri;",
        "proxy_http_version 1.1;",
        "proxy_ssl_server_name on;",
        "proxy_ssl_name $crm_target_sni;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $crm_target_host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $host;",
    ]
    for name in contract.SETTABLE:
        value = "$crm_requested_with" if name == contract.REQUESTED_WITH else _value("set", name, cache)
        lines.append(f"proxy_set_header {name} {value};")
    lines += [f'proxy_set_header {name} "";' for name in contract.STRIPPED]
    lines += ["proxy_hide_header Set-Cookie;", "proxy_hide_header WWW-Authenticate;"]
    lines += [f"add_header {name} {_value('reply', name, cache)} always;" for name in contract.REPLY]
    return "".join(f"      {line}\n" for line in lines)


def _warning(warning: str | None) -> str:
    return f"# {warning}\n" if warning else ""


def standalone(plan: Plan, *, workers: str = "auto", warning: str | None = None) -> str:
    """A whole nginx.conf: paths relative to the prefix (``nginx -p DIR -c nginx.conf -e stderr``)."""
    temp = "".join(
        f"  {kind}_temp_path {kind}_temp;\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{_HEADER}{_warning(warning)}worker_processes {workers};\npid nginx.pid;\nerror_log stderr warn;\n"
        "events {\n  worker_connections 4096;\n}\n"
        f"http {{\n{temp}  access_log off;\n  keepalive_requests 100000;\n{http_block(plan)}}}\n"
    )


def snippet(plan: Plan, *, warning: str | None = None) -> str:
    """The ``http { }`` contents alone, for an existing nginx (e.g. /etc/nginx/conf.d/crm-gateway.conf)."""
    return _HEADER + _warning(warning) + http_block(plan)
