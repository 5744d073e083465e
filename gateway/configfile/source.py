"""YAML read with line numbers, and a strict reader that names file, line and key in every error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gateway.configfile.sources import read_file
from gateway.errors import ConfigError

T = TypeVar("T")


class _LineLoader(yaml.SafeLoader):
    pass


class LinedDict(dict[str, Any]):
    """A mapping that remembers the line of each key (1-based) and of itself."""

    line: int = 0
    key_lines: dict[str, int]


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LinedDict:
    loader.flatten_mapping(node)
    out = LinedDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise ConfigError("duplicate key", file=loader.name, line=key_node.start_mark.line + 1, key=key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_text(text: str, file: str) -> Any:
    loader = _LineLoader(text)
    loader.name = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=file, line=line) from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = read_file(p).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror})", file=str(p)) from None
    except UnicodeDecodeError:
        raise ConfigError("the file is not UTF-8", file=str(p)) from None
    return load_yaml_text(text, str(p))


class Section:
    """A strict view of one YAML mapping: typed getters, and ``done()`` rejects unknown keys."""

    def __init__(self, data: Any, file: str, key: str, line: int | None = None) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping, got {_kind(data)}", file=file, line=line, key=key)
        self.data: dict[str, Any] = data
        self.file = file
        self.key = key
        self.line = getattr(data, "line", line)
        self._seen: set[str] = set()

    def _path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def line_of(self, name: str) -> int | None:
        lines = getattr(self.data, "key_lines", {})
        return lines.get(name, self.line)

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(reason, file=self.file, line=self.line_of(name), key=self._path(name))

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = None) -> Any:
        self._seen.add(name)
        return self.data.get(name, default)

    def get(self, name: str, kind: type[T] | tuple[type, ...], default: Any = ...) -> Any:
        self._seen.add(name)
        if name not in self.data or self.data[name] is None:
            if default is ...:
                raise ConfigError(
                    "required key is missing", file=self.file, line=self.line, key=self._path(name)
                )
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool):
            raise self.error(name, f"expected {_names(kinds)}, got a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_names(kinds)}, got {_kind(value)}")
        return value

    def str_list(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self.get(name, (list, str), default if default is not None else ...)
        if isinstance(value, str):
            return [value]
        for item in value:
            if not isinstance(item, str):
                raise self.error(name, f"expected a list of strings, found {_kind(item)}")
        return list(value)

    def section(self, name: str, default: Mapping[str, Any] | None = None) -> Section:
        self._seen.add(name)
        if name not in self.data or self.data[name] is None:
            if default is None:
                raise ConfigError(
                    "required key is missing", file=self.file, line=self.line, key=self._path(name)
                )
            return Section(LinedDict(default), self.file, self._path(name), self.line_of(name))
        return Section(self.data[name], self.file, self._path(name), self.line_of(name))

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str:
        value: str = self.get(name, str, default if default is not None else ...)
        if value not in options:
            raise self.error(name, f"must be one of {', '.join(options)}; got {value!r}")
        return value

    def items(self) -> Iterator[tuple[str, Any]]:
        for name in self.data:
            self._seen.add(name)
            yield name, self.data[name]

    def done(self) -> None:
        for name in self.data:
            if name not in self._seen:
                raise self.error(name, "unknown key")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _names(kinds: tuple[type, ...]) -> str:
    words = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a mapping",
    }
    return " or ".join(words.get(k, k.__name__) for k in kinds)
