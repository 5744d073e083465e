"""Bad policy files are refused at load with file, line, key and reason; good ones load from files,
directories and globs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.configfile.source import load_yaml_text
from gateway.errors import ConfigError
from gateway.policy.policies import load_policies, policies_from_documents

FIXTURES = Path(__file__).parent / "fixtures"
DIALECTS = {"civi": "civicrm", "espo": "espocrm"}


@pytest.mark.parametrize(
    ("fixture", "line", "key", "reason"),
    [
        ("missing_subjects.yaml", 2, "subjects", "required key is missing"),
        ("empty_subjects.yaml", 2, "subjects", "names nobody"),
        ("unknown_subject_kind.yaml", 4, "subjects.users", "unknown key"),
        ("unknown_upstream.yaml", 3, "upstreams", "unknown upstream 'crm9' (configured: civi, espo)"),
        ("empty_upstreams.yaml", 3, "upstreams", "empty list"),
        ("bad_verdict.yaml", 6, "entities.Contact.create", "must be allow or deny; got True"),
        ("bad_verdict_word.yaml", 4, "entities.Email.get", "must be allow or deny; got 'permit'"),
        ("unknown_key.yaml", 3, "entitys", "unknown key"),
        ("bad_mode.yaml", 2, "mode", "must be one of enforce, shadow; got 'enforcing'"),
        ("bad_policy_name.yaml", 1, "policy", "invalid policy name 'news letter'"),
        ("duplicate_action.yaml", 6, "entities.Contact.getfields", "same action as 'getFields'"),
        ("entity_collision.yaml", 6, "entities.group_contact", "same civicrm entity as 'GroupContact'"),
        ("duplicate_name.yaml", 5, "[2].policy", "duplicate policy name 'same'"),
        ("bad_rate.yaml", 5, "limits[1].rate", "invalid rate '600/fortnight'"),
        ("bad_burst.yaml", 5, "limits[0].burst", "burst must be at least 1; got 0"),
        (
            "bad_per.yaml",
            5,
            "limits[0].per",
            "must be one of principal, person, upstream, global; got 'tenant'",
        ),
        ("dotted_field.yaml", 5, "fields.Email.deny", "invalid field 'contact_id.api_key'"),
        ("opaque_entity.yaml", 4, "entities.<opaque>", "opaque routes are allowed under opaque:"),
        ("entities_not_mapping.yaml", 4, "entities.Contact", "expected a mapping, got a string"),
        ("duplicate_yaml_key.yaml", 5, "Contact", "duplicate key"),
        ("invalid_yaml.yaml", 3, "", "invalid YAML"),
        ("empty_file.yaml", None, "", "empty policy file"),
    ],
)
def test_bad_policy_file_is_refused_with_file_line_and_key(
    fixture: str, line: int | None, key: str, reason: str
) -> None:
    path = FIXTURES / fixture
    with pytest.raises(ConfigError) as caught:
        load_policies([path], DIALECTS)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(path), line, key)
    assert reason in error.reason
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(error).startswith(where)
    if key:
        assert f": {key}: " in str(error)


def test_duplicate_name_error_points_at_the_first_definition() -> None:
    with pytest.raises(ConfigError, match=r"first defined at .*duplicate_name\.yaml:1"):
        load_policies([FIXTURES / "duplicate_name.yaml"], DIALECTS)


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("policy: same\nsubjects: {roles: [a]}\n")
    (tmp_path / "b.yaml").write_text("# second\npolicy: same\nsubjects: {roles: [b]}\n")
    with pytest.raises(ConfigError) as caught:
        load_policies([tmp_path], DIALECTS)
    assert (caught.value.file, caught.value.line, caught.value.key) == (str(tmp_path / "b.yaml"), 2, "policy")


def test_entity_spellings_collide_only_for_dialects_that_fold_them() -> None:
    text = (
        "policy: p\nsubjects: {roles: [r]}\nupstreams: [espo]\n"
        "entities:\n  Lead: {read: allow}\n  lead: {read: deny}\n"
    )
    ps = policies_from_documents([("p.yaml", load_yaml_text(text, "p.yaml"))], DIALECTS)
    assert [p.name for p in ps.policies] == ["p"]


def _write(directory: Path, name: str, policy: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(f"policy: {policy}\nsubjects: {{roles: [r]}}\n")


def test_directory_loads_yaml_files_sorted(tmp_path: Path) -> None:
    _write(tmp_path, "20-b.yaml", "b")
    _write(tmp_path, "10-a.yaml", "a")
    _write(tmp_path, "30-c.yml", "c")
    (tmp_path / "notes.txt").write_text("not a policy")
    ps = load_policies([tmp_path], DIALECTS)
    assert [p.name for p in ps.policies] == ["a", "b", "c"]


def test_glob_and_files_load_once_each(tmp_path: Path) -> None:
    _write(tmp_path, "x.yaml", "x")
    _write(tmp_path, "y.yaml", "y")
    ps = load_policies([tmp_path / "y.yaml", tmp_path / "*.yaml"], DIALECTS)
    assert [p.name for p in ps.policies] == ["y", "x"]


@pytest.mark.parametrize("target", ["missing.yaml", "empty-dir", "nothing-*.yaml"])
def test_paths_that_name_no_policy_are_refused(tmp_path: Path, target: str) -> None:
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_policies([tmp_path / target], DIALECTS)
    assert caught.value.file == str(tmp_path / target)


def test_a_file_may_hold_a_list_of_policies(tmp_path: Path) -> None:
    (tmp_path / "many.yaml").write_text(
        "- policy: one\n  subjects: {roles: [a]}\n- policy: two\n  subjects: {roles: [b]}\n  mode: shadow\n"
    )
    ps = load_policies([tmp_path / "many.yaml"], DIALECTS)
    assert [(p.name, p.mode) for p in ps.policies] == [("one", "enforce"), ("two", "shadow")]


def test_plain_documents_without_line_information_load() -> None:
    doc = {"policy": "plain", "subjects": {"scopes": ["crm.read"]}, "entities": {"*": {"get": "allow"}}}
    ps = policies_from_documents([("inline", doc)], DIALECTS)
    assert ps.policies[0].upstreams == frozenset({"civi", "espo"})
    with pytest.raises(ConfigError) as caught:
        policies_from_documents([("inline", {**doc, "mode": "loud"})], DIALECTS)
    assert (caught.value.file, caught.value.key) == ("inline", "mode")


def test_files_lists_what_hot_reload_must_watch(tmp_path: Path) -> None:
    _write(tmp_path / "dir", "a.yaml", "a")
    _write(tmp_path / "glob", "b.yaml", "b")
    _write(tmp_path, "c.yaml", "c")
    ps = load_policies([tmp_path / "dir", tmp_path / "glob" / "*.yaml", tmp_path / "c.yaml"], DIALECTS)
    assert ps.files == (
        tmp_path / "dir" / "a.yaml",
        tmp_path / "glob" / "b.yaml",
        tmp_path / "c.yaml",
        tmp_path / "dir",
        tmp_path / "glob",
    )
    assert policies_from_documents([], DIALECTS).files == ()


def test_entity_names_lists_every_entity_the_policies_write() -> None:
    text = (
        "policy: p\nsubjects: {roles: [r]}\n"
        'entities:\n  Contact: {get: allow}\n  "*": {meta: allow}\n'
        "fields:\n  Email: {deny: [x]}\n"
        "limits:\n  - {entity: Lead, rate: 1/s}\n"
    )
    ps = policies_from_documents([("p.yaml", load_yaml_text(text, "p.yaml"))], DIALECTS)
    assert ps.entity_names() == ["Contact", "Email", "Lead"]
