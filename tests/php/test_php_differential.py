"""The gateway's PHP readings against real PHP: ``parse_str`` for query strings and form bodies (how
``$_GET``/``$_POST`` are built) and ``json_decode($text, TRUE)`` for ``params``, ``json``, ``calls`` and
JSON bodies. For every generated input the gateway must build the identical structure, or refuse it.

Inputs are batched: one ``php`` process reads a whole Hypothesis example's inputs (tests/php/php_reads.php).
In CI (``CI`` set) a missing ``php`` is a failure; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from gateway.dialects.phpparams import php_json_decode, php_parse
from gateway.errors import BadRequest
from gateway.proxy.body import form_pairs

SCRIPT = Path(__file__).with_name("php_reads.php")
PHP = shutil.which("php")
BATCH = 20
EXAMPLES = int(os.environ.get("PHP_DIFFERENTIAL_EXAMPLES", "10"))
"""10 examples of 20 inputs each: 200 query strings and 200 JSON texts, ten short PHP runs per test."""

if PHP is None:
    if os.environ.get("CI"):
        pytest.fail("php-cli is required in CI for the PHP differential tests", pytrace=False)
    pytest.skip("php-cli is not installed (CI installs it; apt-get install php-cli)", allow_module_level=True)

NAME_PARTS = st.sampled_from(
    ["a", "b", "api_key", "params", "json", "where", ".", " ", "_", "[", "]", "[]", "[0]", "[x]", "[ ]",
     "[a.b]", "%5B", "%5D", "%2E", "%20", "%00", "+", "0", "1", "-1", "01", "9223372036854775808", "é", "%FF"]
)  # fmt: skip
VALUE_PARTS = st.sampled_from(["", "1", "x", "%26", "%3D", "+", "%2B", "a b", "%00", "{}", "[1]", "é", "%E9"])
PAIR = st.tuples(
    st.lists(NAME_PARTS, min_size=0, max_size=6).map("".join),
    st.one_of(st.none(), st.lists(VALUE_PARTS, max_size=3).map("".join)),
)
QUERY = st.lists(PAIR, max_size=8).map(
    lambda pairs: "&".join(name if value is None else f"{name}={value}" for name, value in pairs)
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
JSON_FRAGMENTS = st.sampled_from(
    ["{", "}", "[", "]", ",", ":", '"a"', '"0"', "1", "-0", "1e400", "1.0", "NaN", "Infinity", "null", "true",
     '"\\ud800"', '"\\ud83d\\ude00"', '"\\u0000"', " ", "\t", "\u00a0", "99999999999999999999", '"é"']
)  # fmt: skip
JSON_TEXT = st.one_of(
    JSON_VALUES.map(json.dumps),
    st.lists(JSON_FRAGMENTS, min_size=1, max_size=10).map("".join),
    st.integers(min_value=1, max_value=600).map(lambda depth: "[" * depth + "]" * depth),
)


def run_php(inputs: list[dict[str, str]]) -> list[dict[str, Any]]:
    assert PHP is not None
    lines = "".join(json.dumps(item) + "\n" for item in inputs)
    done = subprocess.run(
        [PHP, "-n", str(SCRIPT)], input=lines.encode(), capture_output=True, timeout=30, check=True
    )
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(answers) == len(inputs), done.stderr
    return answers


def as_php_array(value: Any) -> Any:
    """A decoded value as PHP holds it once re-encoded with JSON_FORCE_OBJECT: every array an object."""
    if isinstance(value, list):
        return {str(index): as_php_array(item) for index, item in enumerate(value)}
    if isinstance(value, dict):
        return {key: as_php_array(item) for key, item in value.items()}
    return value


def gateway_query(text: str) -> Any:
    try:
        return php_parse(URL("http://upstream.test/?" + text, encoded=True).query.items())
    except BadRequest:
        return None


def gateway_form(text: str) -> Any:
    try:
        return php_parse(form_pairs(text.encode()))
    except BadRequest:
        return None


def gateway_json(text: str) -> tuple[bool, Any]:
    try:
        return True, php_json_decode(text)
    except (ValueError, RecursionError):
        return False, None


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(QUERY, min_size=BATCH, max_size=BATCH))
def test_query_strings_are_read_as_parse_str_reads_them(queries: list[str]) -> None:
    answers = run_php([{"kind": "query", "text": text} for text in queries])
    for text, answer in zip(queries, answers, strict=True):
        assert answer["ok"], text
        query = gateway_query(text)
        assert query is None or query == answer["value"], f"query: {text}"
        form = gateway_form(text)
        assert form is None or form == answer["value"], f"form body: {text}"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON_TEXT, min_size=BATCH, max_size=BATCH))
def test_json_is_read_as_json_decode_reads_it_or_refused(texts: list[str]) -> None:
    answers = run_php([{"kind": "json", "text": text} for text in texts])
    for text, answer in zip(texts, answers, strict=True):
        accepted, value = gateway_json(text)
        if not accepted:
            continue  # a refusal is always allowed
        assert answer["ok"], f"PHP rejects what the gateway reads: {text[:80]!r}"
        assert as_php_array(value) == answer["value"], text[:80]


@pytest.mark.parametrize(
    "text",
    [
        "a[b]=1&a[]=2&a[]=3",
        "a.b[c.d]=1",
        "a%20b=1&a+c=2",
        "x[=1",
        "x]=1",
        "[a]=1",
        "a[b]c=1",
        "a%00b=1",
        "=1",
    ],
)
def test_known_php_readings(text: str) -> None:
    (answer,) = run_php([{"kind": "query", "text": text}])
    assert gateway_query(text) == answer["value"]
    assert gateway_form(text) == answer["value"]
