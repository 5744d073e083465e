"""The CiviCRM request-reading shortcuts (docs/performance.md, second speed round) give exactly what the
code they replaced gave, on many generated inputs: each old function is kept here to compare with."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qsl

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.dialects.base import RequestView
from gateway.dialects.civicrm.inputs import CREDENTIAL_PARAMS
from gateway.dialects.civicrm.routes import Sources
from gateway.dialects.phpparams import (
    PHP_JSON_DEPTH,
    _finite,
    _php_int,
    _refuse_constant,
    php_json_decode,
    php_name,
    php_parse,
)
from gateway.errors import BadRequest
from gateway.proxy.body import form_pairs

CASES = 4000


def old_form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("form body is not valid UTF-8") from None


FORM_PIECES = (
    "a", "Z", "0", "=", "&", "&&", "+", "%", "%2", "%20", "%2B", "%26", "%3D", "%7B", "%C3%A9", "%C3",
    "%A9", "%FF", "%E2%82", "%E2%82%AC", "%zz", "%%", "é", "€", "😀", "json", "api.Email.get", "[", "]",
    " ", ";", "\x00", "%00", "\\", "\\x41", "\\\\", "\\n", "%5C", "%5c", "%7b", "%e2%82%ac", "x", "%4",
)  # fmt: skip


def random_text(rng: random.Random, pieces: tuple[str, ...], most: int) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, most)))


def test_form_pairs_are_parse_qsl_on_generated_bodies() -> None:
    rng = random.Random(17)
    bodies = [random_text(rng, FORM_PIECES, 14).encode() for _ in range(CASES)]
    bodies += [b"", b"&", b"=", b"a", b"a=", b"=b", b"a=b=c", b"\xc3", b"a=%C3%A9&b=\xff", b"\\%41=\\x41%"]
    for body in bodies:
        try:
            expected: Any = old_form_pairs(body)
        except BadRequest as error:
            expected = ("refused", str(error))
        try:
            got: Any = form_pairs(body)
        except BadRequest as error:
            got = ("refused", str(error))
        assert got == expected, body


def old_php_json_decode(text: str | bytes, object_pairs_hook: Any = None) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value = json.loads(
        text,
        parse_int=_php_int,
        parse_float=_finite,
        parse_constant=_refuse_constant,
        object_pairs_hook=object_pairs_hook,
    )
    old_check(value, 0)
    return value


def old_check(value: Any, depth: int) -> None:
    if isinstance(value, str):
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("a lone UTF-16 surrogate")
        return
    if not isinstance(value, dict | list):
        return
    if depth >= PHP_JSON_DEPTH - 1:
        raise ValueError("nested deeper than PHP decodes")
    for key in value if isinstance(value, dict) else ():
        old_check(key, depth)
    for item in value.values() if isinstance(value, dict) else value:
        old_check(item, depth + 1)


JSON_PIECES = (
    "{", "}", "[", "]", ",", ":", '"a"', '"é"', '"\\ud800"', '"\\udfff x"', '"\\ud83d\\ude00"', '"😀"',
    "1", "-0", "1.5", "1e400", "-1e400", "9223372036854775808", "-9223372036854775809", "NaN",
    "Infinity", "-Infinity", "true", "null", " ", "\ufeff", '"\\u0000"', '"k\\ud800"',
)  # fmt: skip


def outcome(decode: Any, text: str | bytes, hook: Any = None) -> Any:
    try:
        return ("value", decode(text, hook))
    except (ValueError, RecursionError) as error:
        return (type(error).__name__, str(error))


@pytest.mark.parametrize("hook", [None, dict])
def test_php_json_decode_is_the_old_decode_on_generated_texts(hook: Any) -> None:
    rng = random.Random(6)
    texts: list[str | bytes] = [random_text(rng, JSON_PIECES, 9) for _ in range(CASES)]
    texts += ['{"a": ' * 600 + "1" + "}" * 600, "[" * 510 + "]" * 510, "[" * 511 + "]" * 511]
    texts += ["[" * 509 + "]" * 509, "[" * 509 + '"\\u00e9"' + "]" * 509, '{"\\\\u": "\\ud800"}']
    texts += ["\ufeff{}", b'{"a": "\xc3\xa9"}', b"\xff", '{"a": {"b": ["\\udbff"]}}', "\ufeff"]
    texts += [json.dumps({"sequential": 1, "return": "display_name", "api.Email.get": {}})]
    for text in texts:
        assert outcome(php_json_decode, text, hook) == outcome(old_php_json_decode, text, hook), text


NAME_PIECES = (
    "key", "api", "_", "authx", "SiteKey", "Key", "k", "ey", " ", ".", "[", "]", "[]", "[ ]", "\x00", "x",
    "amp;", "0",
)  # fmt: skip


def test_a_name_php_folds_into_a_credential_keeps_its_letters() -> None:
    """``check_inputs`` looks at a name only when it contains ``key`` or ``authx``: every name whose
    PHP base name is a credential parameter contains one of them."""
    rng = random.Random(5)
    names = [random_text(rng, NAME_PIECES, 6) for _ in range(CASES * 5)]
    names += ["api.key", " api_key", "api_key[]", "api[key", "_authx[", ".authx", "_authxSiteKey[a]"]
    folded = 0
    for name in names:
        parsed = php_name(name)
        if parsed is not None and parsed[0] in CREDENTIAL_PARAMS and name != parsed[0]:
            folded += 1
            assert "key" in name or "authx" in name, name
    assert folded > 100


def old_sources(view: RequestView) -> Sources:
    query_items = list(view.query.items())
    form_items = list(view.form.items()) if view.form is not None else []
    raw: dict[str, list[tuple[str, bool]]] = {}
    for name, value in (*query_items, *form_items):
        parsed = php_name(name)
        if parsed is not None:
            raw.setdefault(parsed[0], []).append((value, bool(parsed[1])))
    return Sources(php_parse(query_items), php_parse(form_items), raw)


def old_single(sources: Sources, name: str) -> Any:
    given = sources.raw.get(name, [])
    if any(bracketed for _, bracketed in given):
        return "refused: array"
    values = {value for value, _ in given}
    if len(values) > 1:
        return "refused: different values"
    return next(iter(values)) if values else None


def new_single(sources: Sources, name: str) -> Any:
    try:
        return sources.single(name)
    except BadRequest as error:
        return "refused: array" if "single value" in str(error) else "refused: different values"


PARAM_NAMES = ("a", "a[]", "a[x]", "a.b", "a b", " a", "q", "q[]", "entity", "b[0][]", "b[1]", "\x00c", "[")


def random_items(rng: random.Random) -> MultiDictProxy[str]:
    items = [(rng.choice(PARAM_NAMES), rng.choice(("1", "2", ""))) for _ in range(rng.randint(0, 5))]
    return MultiDictProxy(MultiDict(items))


def test_sources_parse_each_name_once_as_before() -> None:
    rng = random.Random(3)
    for _ in range(CASES):
        form = random_items(rng) if rng.random() < 0.7 else None
        path = "/civicrm/ajax/rest"
        headers = CIMultiDictProxy(CIMultiDict[str]())
        view = RequestView("POST", path, path, query=random_items(rng), headers=headers, form=form)
        try:
            expected: Any = old_sources(view)
        except BadRequest as error:
            expected = str(error)
        try:
            got: Any = Sources.of(view)
        except BadRequest as error:
            got = str(error)
        assert got == expected, (view.query, view.form)
        if isinstance(got, Sources):
            for name in ("a", "q", "entity", "b", "c", "absent"):
                assert new_single(got, name) == old_single(got, name)
