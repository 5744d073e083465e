"""An outbound form body encoded once per distinct form (``forward.form_body``): always the bytes
``form_encode`` gives, whether found or encoded anew; bounded in size per form and in count."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.proxy import forward
from gateway.proxy.forward import FORM_BYTES_KEPT, FORMS_KEPT, form_body, form_encode

TEXT = st.text(st.characters(codec="utf-8"), max_size=16)


@settings(max_examples=200, deadline=None)
@given(form=st.lists(st.tuples(TEXT, TEXT), max_size=6))
def test_a_form_body_is_form_encode_found_or_not(form: list[tuple[str, str]]) -> None:
    expected = form_encode(form).encode()
    assert form_body(form) == expected
    assert form_body(list(form)) == expected  # found by its contents, from another list


def test_a_large_form_is_encoded_each_time_and_the_memo_starts_again_when_full() -> None:
    forward._FORMS.clear()
    large = [("json", "x" * FORM_BYTES_KEPT)]
    assert form_body(large) == form_encode(large).encode()
    assert len(forward._FORMS) == 0
    for i in range(FORMS_KEPT):
        form_body([("n", str(i))])
    assert len(forward._FORMS) == FORMS_KEPT
    assert form_body([("n", "new")]) == b"n=new"
    assert len(forward._FORMS) == 1
