"""`${env:NAME}` and `${file:/path}` references, resolved once at load time into Secret values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from gateway.configfile.sources import read_file
from gateway.errors import ConfigError
from gateway.secrets import Secret

_REF = re.compile(r"\$\{(env|file):([^}]+)\}")


class SecretResolver:
    """Resolves references relative to the config file; collects warnings and every secret seen."""

    def __init__(self, file: str, environ: Mapping[str, str] | None = None) -> None:
        self.file = file
        self.base = Path(file).resolve().parent if file and not file.startswith("<") else Path.cwd()
        self.environ = os.environ if environ is None else environ
        self.warnings: list[str] = []
        self.secrets: list[Secret] = []

    def text(self, value: str, *, key: str, line: int | None) -> str:
        """Expand references inside a non-secret string (a URL, a host name)."""
        return _REF.sub(lambda m: self._read(m.group(1), m.group(2), key=key, line=line)[0], value)

    def secret(self, value: object, *, key: str, line: int | None) -> Secret:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(
                "expected a string or a ${env:NAME} / ${file:/path} reference",
                file=self.file,
                line=line,
                key=key,
            )
        raw = str(value)
        refs = list(_REF.finditer(raw))
        if not refs:
            self.warnings.append(
                f"{self.file}:{line}: {key}: inline secret; use ${{env:NAME}} or ${{file:/path}} instead"
            )
            secret = Secret(raw, "inline")
        elif len(refs) == 1 and refs[0].group(0) == raw:
            resolved, source = self._read(refs[0].group(1), refs[0].group(2), key=key, line=line)
            secret = Secret(resolved, source)
        else:
            resolved = _REF.sub(lambda m: self._read(m.group(1), m.group(2), key=key, line=line)[0], raw)
            secret = Secret(resolved, "template")
        if not secret.reveal():
            raise ConfigError("secret is empty", file=self.file, line=line, key=key)
        self.secrets.append(secret)
        return secret

    def _read(self, kind: str, name: str, *, key: str, line: int | None) -> tuple[str, str]:
        name = name.strip()
        if kind == "env":
            if name not in self.environ:
                raise ConfigError(
                    f"environment variable {name} is not set", file=self.file, line=line, key=key
                )
            return self.environ[name], f"env:{name}"
        path = Path(name)
        if not path.is_absolute():
            path = self.base / path
        try:
            return read_file(path).decode("utf-8").strip(), f"file:{path}"
        except UnicodeDecodeError:
            raise ConfigError(
                f"secret file {path} is not UTF-8", file=self.file, line=line, key=key
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot read secret file {path} ({exc.strerror})", file=self.file, line=line, key=key
            ) from None
