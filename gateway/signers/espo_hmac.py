"""EspoCRM HMAC signer (``espo-hmac``).

``X-Hmac-Authorization: base64(apiKey + ":" + hmac_sha256(secretKey, METHOD + " " + resource_path))``
where ``resource_path`` is the forwarded path, as slim/psr7 ``filterPath`` leaves it, after
``<upstream base path><api_path>``; the query and body are never signed. The digest is lower-case hex
(EspoCRM >= 8.4.1) or the raw 32 bytes (legacy form, accepted by every version).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from gateway.errors import ConfigError, Forbidden
from gateway.signers.base import Identity, OutboundRequest, SignerSpec
from gateway.signers.espo_apikey import ACT_AS_REFUSAL, ESPO_DIALECTS
from gateway.signers.espo_path import filter_path
from gateway.signers.options import identity_text, reject_unknown

Digest = Literal["hex", "raw"]
DEFAULT_API_PATH = "/api/v1"
_CACHE_LIMIT = 4096
_SIGNED_LIMIT = 1024
_SIGNED_PATH_LIMIT = 512


class _Credential:
    """One API user's precomputed parts: the HMAC keyed with its secret, ``apiKey:``, and the headers
    already computed by (method, base path, path): the signature covers nothing else, so the same three
    give the same header (bounded: emptied when full; long paths are signed every time)."""

    __slots__ = ("key_prefix", "mac", "signed")

    def __init__(self, api_key: str, secret_key: str) -> None:
        self.key_prefix = api_key.encode() + b":"
        self.mac = hmac.new(secret_key.encode(), digestmod=hashlib.sha256)
        self.signed: dict[tuple[str, str, str], str] = {}

    def __repr__(self) -> str:
        return "_Credential(<redacted>)"


def _digest_option(options: Mapping[str, Any], where: str) -> Digest:
    value = options.get("digest", "hex")
    if value == "hex":
        return "hex"
    if value == "raw":
        return "raw"
    raise ConfigError("digest must be 'hex' or 'raw'", key=f"{where}.digest")


def _api_path_option(options: Mapping[str, Any], where: str) -> str:
    value = options.get("api_path", DEFAULT_API_PATH)
    if not isinstance(value, str):
        raise ConfigError("api_path must be a string such as '/api/v1'", key=f"{where}.api_path")
    well_formed = value == "" or (value.startswith("/") and not value.endswith("/"))
    if not well_formed or filter_path(value) != value or "%" in value:
        raise ConfigError(
            "api_path must be '' or a plain path starting with '/', without a trailing '/', "
            "percent-escapes or characters that need encoding",
            key=f"{where}.api_path",
        )
    return value


class EspoHmacSigner:
    scheme: ClassVar[str] = "espo-hmac"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"api_key", "secret_key"})
    front_proxy_refusal: ClassVar[str | None] = None
    credential_lifetime: ClassVar[int | None] = None

    def __init__(self, digest: Digest = "hex", api_path: str = DEFAULT_API_PATH) -> None:
        self.digest: Digest = digest
        self.api_path = api_path
        self._credentials: dict[tuple[str, str], _Credential] = {}
        self._prefixes: dict[str, str] = {}

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> EspoHmacSigner:
        reject_unknown(options, where, known=("digest", "api_path"))
        return cls(digest=_digest_option(options, where), api_path=_api_path_option(options, where))

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        api_key = identity_text(identity, "api_key")
        secret_key = identity_text(identity, "secret_key")
        credential = self._credential(api_key, secret_key)
        key = (request.method, request.base_path, request.path)
        header = credential.signed.get(key)
        if header is None:
            header = self._header(request, credential)
            if len(request.path) <= _SIGNED_PATH_LIMIT:
                if len(credential.signed) >= _SIGNED_LIMIT:
                    credential.signed.clear()
                credential.signed[key] = header
        request.headers["X-Hmac-Authorization"] = header
        request.secrets += (api_key, secret_key, header)

    def _header(self, request: OutboundRequest, credential: _Credential) -> str:
        signed = f"{request.method.upper()} {self.resource_path(request)}".encode()
        digest = credential.mac.copy()
        digest.update(signed)
        proof = digest.hexdigest().encode() if self.digest == "hex" else digest.digest()
        return base64.b64encode(credential.key_prefix + proof).decode()

    def resource_path(self, request: OutboundRequest) -> str:
        """The path after ``<base_path><api_path>`` as the server computes it; Forbidden elsewhere."""
        prefix = self._prefix(request.base_path)
        path = filter_path(request.path)
        rest = path[len(prefix) :]
        if not path.startswith(prefix) or not rest.startswith("/"):
            raise Forbidden(f"request path is not under {prefix or '/'}: not an EspoCRM API path")
        return rest

    def _prefix(self, base_path: str) -> str:
        prefix = self._prefixes.get(base_path)
        if prefix is None:
            if len(self._prefixes) >= _CACHE_LIMIT:
                self._prefixes.clear()
            prefix = filter_path(base_path.rstrip("/")) + self.api_path
            self._prefixes[base_path] = prefix
        return prefix

    def _credential(self, api_key: str, secret_key: str) -> _Credential:
        cache_key = (api_key, secret_key)
        credential = self._credentials.get(cache_key)
        if credential is None:
            if len(self._credentials) >= _CACHE_LIMIT:
                self._credentials.clear()
            credential = _Credential(api_key, secret_key)
            self._credentials[cache_key] = credential
        return credential

    def __repr__(self) -> str:
        return f"EspoHmacSigner(digest={self.digest!r}, api_path={self.api_path!r})"


SPEC = SignerSpec(
    scheme=EspoHmacSigner.scheme,
    factory=EspoHmacSigner.from_options,
    identity_fields=EspoHmacSigner.identity_fields,
    dialects=ESPO_DIALECTS,
    options=frozenset({"digest", "api_path"}),
    headers=("X-Hmac-Authorization",),
    field_refusals={"act_as": ACT_AS_REFUSAL},
)
