"""Requests whose parameters CiviCRM would read differently from the gateway, refused before identify.

The gateway authorizes what it reads from the query and the form body; CiviCRM runs what PHP (and, for
the WordPress REST route, WordPress) reads. Where the two readings can part, the request is refused:

- ``CRM_Utils_Request::getValue`` (CRM-18384) takes ``amp;params`` (``amp;`` removed anywhere in the
  name) for ``params`` when ``params`` is absent: no parameter name may contain ``amp;``.
- PHP names ``api.key``, `` api_key`` and ``api_key[]`` all ``api_key``: a credential parameter is
  accepted only under its exact name (which the proxy strips), never in a form PHP folds into it.
- PHP stops reading after ``max_input_vars`` (1000) variables per source: a later value the gateway sees
  (or a credential the signer appends) could be dropped while an earlier one is kept.
- PHP fills ``$_POST`` only for a ``POST`` whose Content-Type, lower-cased and cut at the first ``;``,
  ``,`` or space, is a form type; WordPress also reads JSON bodies (any method) and, for PUT, PATCH and
  DELETE, urlencoded bodies or bodies without a Content-Type. The body must be read by both or by neither.
"""

from __future__ import annotations

import re

from gateway.dialects.base import RequestView
from gateway.dialects.civicrm.routes import AMBIGUOUS_PARAMETER, Kind, Route
from gateway.dialects.phpparams import php_name
from gateway.errors import BadRequest

MAX_INPUT_VARS = 1000
SIGNER_VARS = 8
"""Room left under PHP's limit for the parameters a signer appends (site key, api key, ``_authx``...)."""
CREDENTIAL_PARAMS = frozenset({"key", "api_key", "_authx", "_authxSiteKey"})
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
AMBIGUOUS_BODY = "ambiguous-body"
_PHP_CUT = re.compile(r"[;, ]")
_WP_JSON = re.compile(r"(^|\s|,)application/([\w!#$&\-^.+]+\+)?json(\+oembed)?($|\s|;|,)", re.I)
_WP_BODY_METHODS = frozenset({"PUT", "PATCH", "DELETE"})


def _refuse_body(why: str) -> BadRequest:
    return BadRequest(f"CiviCRM would read this request body differently: {why}", reason=AMBIGUOUS_BODY)


def check_inputs(view: RequestView, route: Route) -> None:
    """BadRequest for parameters or a body the gateway cannot read exactly as the server will."""
    names = [*view.query.keys(), *(view.form.keys() if view.form is not None else ())]
    if any("amp;" in name for name in names):
        raise BadRequest("Parameter names may not contain 'amp;'", reason=AMBIGUOUS_PARAMETER)
    for name in names:
        if "key" not in name and "authx" not in name:  # php_name keeps these letters: no credential
            continue
        parsed = php_name(name)
        if parsed is not None and parsed[0] in CREDENTIAL_PARAMS and name != parsed[0]:
            raise BadRequest("A credential parameter under another name", reason=AMBIGUOUS_PARAMETER)
    most = MAX_INPUT_VARS - SIGNER_VARS
    for source in (view.query, view.form):
        if source is not None and len(source) > most:
            raise BadRequest(f"More than {most} parameters", reason="too-many-parameters")
    if route.is_api:
        _check_body(view, route)


def _content_type(view: RequestView) -> str | None:
    values = view.headers.getall("Content-Type", [])
    if len(values) > 1:
        raise _refuse_body("more than one Content-Type")
    # A view built without headers (explain, tests) carries its media type alone.
    return values[0] if values else (view.content_type or None)


def _has_body(view: RequestView) -> bool:
    if view.body or (view.form is not None and len(view.form) > 0):
        return True
    if view.body is not None or view.form is not None:
        return False
    length = view.headers.get("Content-Length")
    return "Transfer-Encoding" in view.headers or (length is not None and length.strip() != "0")


def _wp_type(raw: str | None) -> str | None:
    """``WP_REST_Request::get_content_type()['value']``: cut at a ``;`` past the first character,
    lower-cased, trimmed; None without a ``/``."""
    if raw is None:
        return None
    value = (raw if raw.startswith(";") else raw.split(";", 1)[0]).lower().strip()
    return value if "/" in value else None


def _check_body(view: RequestView, route: Route) -> None:
    raw = _content_type(view)
    php_type = _PHP_CUT.split(raw.lower(), maxsplit=1)[0] if raw is not None else None
    gateway_form = view.form is not None and len(view.form) > 0
    php_form = view.method == "POST" and php_type in (FORM, MULTIPART)
    if route.kind is not Kind.WP_REST:
        if php_form and view.form is None and _has_body(view):
            raise _refuse_body("the gateway does not read it as a form")
        if gateway_form and not php_form:
            raise _refuse_body("PHP does not read it as a form")
        return
    wp_type = _wp_type(raw)
    has_body = _has_body(view)
    wp_json = wp_type is not None and _WP_JSON.search(wp_type) is not None
    if wp_json and has_body and (view.content_type != JSON or view.body is None):
        raise _refuse_body("WordPress reads it as JSON")
    wp_form = php_form or (
        view.method in _WP_BODY_METHODS and has_body and (wp_type is None or wp_type == FORM)
    )
    if wp_form and not gateway_form and has_body:
        raise _refuse_body("WordPress reads it as a form")
    if gateway_form and not wp_form:
        raise _refuse_body("WordPress does not read it as a form")
