"""Which client X-Request-ID values are kept, and what a generated one looks like."""

from __future__ import annotations

import os
import re

import pytest

from gateway.observability.request_id import accept_or_generate, generate


@pytest.mark.parametrize(
    "value",
    [
        "abcdefgh",
        "req-12345678",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "trace:span.01_AB",
        "a" * 128,
    ],
)
def test_well_formed_client_ids_are_kept(value: str) -> None:
    assert accept_or_generate(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "short",
        "abcdefg",  # 7 characters
        "a" * 129,
        "has space in it",
        "evil\nX-Injected: 1",
        'quote"in-it-here',
        "slash/in/the/id",
        "ünïcödé-1234",
        "abcdefgh\n",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",  # a JWT pasted into the wrong header
    ],
)
def test_anything_else_is_replaced_by_a_generated_id(value: str | None) -> None:
    generated = accept_or_generate(value)
    assert generated != value
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_generated_ids_are_distinct() -> None:
    assert len({generate() for _ in range(1000)}) == 1000


def test_ids_stay_distinct_across_many_refills_of_the_pool() -> None:
    ids = [generate() for _ in range(5000)]  # about 20 pages of random bytes
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_worker_never_repeats_its_parents_next_ids() -> None:
    generate()  # the parent's pool holds bytes a forked child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, " ".join(generate() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [generate() for _ in range(3)]
    assert len(child) == 3 and not set(child) & set(parent)
