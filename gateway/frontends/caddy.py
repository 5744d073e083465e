"""``crm-gateway frontend caddy``: a Caddyfile where ``forward_auth`` asks the gateway and Caddy carries
the bytes. Everything sits in one ``route`` so directives run in the order written. Written for Caddy
2.6 (Debian bookworm), whose ``rewrite`` would encode the gateway's path twice and escape its query:
``uri replace`` swaps the query and ``uri path_regexp`` the encoded path instead (the gateway never puts a
``$`` into a path, which the regexp replacement would expand)."""

from __future__ import annotations

from gateway.decision import contract
from gateway.frontends.plan import ORIGINAL_HEADERS, READ_METHODS, Plan, Route

_HEADER = "# crm-auth-gateway front proxy for Caddy (decision mode), made by `crm-gateway frontend caddy`.\n"
_T = "\t"


def _placeholder(header: str) -> str:
    return "{http.request.header." + header + "}"


def _matcher(name: str, route: Route) -> list[str]:
    lines = [f"@{name} {{"]
    if route.hosts:
        lines.append(f"{_T}host {' '.join(h.split(':')[0] for h in route.hosts)}")
    if route.prefix:
        lines.append(f"{_T}path {route.prefix} {route.prefix}/*")
    if route.decide:
        lines.append(f"{_T}method {' '.join(READ_METHODS)}")
        lines.append(f"{_T}not header_regexp Content-Length ^0*[1-9]")
    lines.append("}")
    return lines


def _modes(plan: Plan) -> list[str]:
    """``crm_mode`` per route, lowest priority first: the last matching one wins, as the gateway's first."""
    lines = ["# Which requests the gateway decides: its routes, later lines win."]
    for index in reversed(range(len(plan.routes))):
        route = plan.routes[index]
        name = f"crm_route_{index}"
        lines += _matcher(name, route)
        lines.append(f"vars @{name} crm_mode {'decide' if route.decide else 'proxy'}")
    return lines


def _decided(plan: Plan) -> list[str]:
    copied = [contract.UPSTREAM, contract.PATH, contract.QUERY]
    copied += [contract.set_header(name) for name in contract.SETTABLE]
    copied += [contract.reply_header(name) for name in contract.REPLY]
    lines = [
        f"forward_auth {plan.gateway} {{",
        f"{_T}uri {plan.decision_path}",
        f"{_T}header_up X-Original-Content-Length {{http.request.header.Content-Length}}",
        f"{_T}copy_headers {' '.join(copied)}",
        "}",
        "# The client's credentials never reach the CRM; the gateway's are set instead.",
        *(f"request_header -{name}" for name in (*contract.SETTABLE, *contract.STRIPPED)),
        *(f"request_header -{pattern}" for pattern in contract.WILDCARD_STRIPPED),
    ]
    for index, name in enumerate(contract.SETTABLE):
        source = contract.set_header(name)
        lines.append(f"@crm_set_{index} header_regexp {source} .")
        lines.append(f"request_header @crm_set_{index} {name} {_placeholder(source)}")
    for index, name in enumerate(contract.REPLY):
        source = contract.reply_header(name)
        lines.append(f"@crm_reply_{index} header_regexp {source} .")
        lines += [f"header @crm_reply_{index} {{", f"{_T}{name} {_placeholder(source)}", f"{_T}defer", "}"]
    lines += [
        "# The exact path and query the gateway decided on (and signed).",
        f"uri replace {{http.request.uri.query}} {_placeholder(contract.QUERY)}",
        f"uri path_regexp ^.*$ {_placeholder(contract.PATH)}",
    ]
    for index, target in enumerate(plan.targets):
        lines += [
            f"@crm_to_{index} header {contract.UPSTREAM} {target.upstream}",
            f"reverse_proxy @crm_to_{index} {target.scheme}://{target.server} {{",
            f"{_T}header_up Host {target.netloc}",
            f"{_T}header_up -X-Crm-*",
            f"{_T}header_down -Set-Cookie",
            f"{_T}header_down -WWW-Authenticate",
            "}",
        ]
    lines.append('respond "no decision-mode upstream matched" 502')
    return lines


def _routes(plan: Plan) -> list[str]:
    return [
        "# Nothing of the gateway's own is the client's to send or to call.",
        "request_header -X-Crm-*",
        *(f"request_header -{name}" for name in ORIGINAL_HEADERS),
        f"@crm_internal path {plan.decision_path} {plan.decision_path}/*",
        "respond @crm_internal 404",
        *_modes(plan),
        "@crm_decide vars crm_mode decide",
        "route @crm_decide {",
        *(_T + line for line in _decided(plan)),
        "}",
        "# Everything else: the gateway's proxy mode.",
        f"reverse_proxy {plan.gateway}",
    ]


def _site(plan: Plan) -> list[str]:
    return [
        f"http://:{plan.listen_port} {{",
        f"{_T}bind {plan.listen_host.strip('[]')}",
        f"{_T}request_body {{",
        f"{_T}{_T}max_size {plan.max_body_bytes + 64 * 1024}",
        f"{_T}}}",
        f"{_T}route {{",
        *(_T * 2 + line for line in _routes(plan)),
        f"{_T}}}",
        "}",
    ]


def caddyfile(plan: Plan, *, admin: str | None = None) -> str:
    """A whole Caddyfile (``caddy run --config FILE --adapter caddyfile``); ``admin``: HOST:PORT or off."""
    options = ["{", f"{_T}admin {admin}" if admin else f"{_T}admin off", f"{_T}auto_https off", "}"]
    return _HEADER + "\n".join([*options, *_site(plan)]) + "\n"
