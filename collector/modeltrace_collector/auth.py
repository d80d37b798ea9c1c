"""API keys with scopes, and the check every listener makes.

Scopes: ``ingest`` (OTLP), ``read`` (the API's reading routes, ``/metrics``, Jaeger gRPC and
HTTP), ``admin`` (what changes state: reference uploads, analysis runs, dead-letter replays
and drops; it includes ``read``). A key is a random token shown once; the collector keeps
only its SHA-256, in ``data_dir/auth/keys.json`` (``modeltrace keys create|list|revoke``).
Deployments can also pass tokens in ``auth.tokens`` (an environment variable) or
``auth.tokens_file``: entries ``SCOPE[+SCOPE]:TOKEN``, separated by spaces, commas or lines.

Authentication is on as soon as one key or token exists: every request but the probes
(``/health``, ``/ready``) must then carry ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import grpc

SCOPES = ("ingest", "read", "admin")
IMPLIED = {"admin": {"read"}}
TOKEN_PREFIX = "mt_"  # noqa: S105 -- the prefix of every token, not a secret
_ENTRY = re.compile(r"^([a-z+]+):(\S+)$")
RELOAD_SECONDS = 1.0
MIN_TOKEN_CHARS = 16


class Exposed(Exception):
    """A listener reaches beyond this machine and nothing asks for a token."""


class AuthError(Exception):
    """``status`` 401 (no or unknown credentials) or 403 (a scope the key lacks)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    @property
    def headers(self) -> dict[str, str] | None:
        """The HTTP answer's headers: a 401 names the scheme it takes."""
        return {"WWW-Authenticate": "Bearer"} if self.status == 401 else None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def check_scopes(scopes: Iterable[str]) -> list[str]:
    out = sorted(set(scopes))
    unknown = [s for s in out if s not in SCOPES]
    if not out or unknown:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}, got {', '.join(unknown) or 'none'}")
    return out


def parse_tokens(text: str, origin: str) -> dict[str, list[str]]:
    """``SCOPE[+SCOPE]:TOKEN`` entries (spaces, commas or lines between; ``#`` comments) as
    {token digest: scopes}."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        for entry in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if not entry:
                continue
            m = _ENTRY.match(entry)
            if not m:
                raise ValueError(f"{origin}: expected SCOPE[+SCOPE]:TOKEN, got {entry[:12]!r}...")
            if len(m.group(2)) < MIN_TOKEN_CHARS:
                raise ValueError(f"{origin}: a token needs at least {MIN_TOKEN_CHARS} characters")
            try:
                out[digest(m.group(2))] = check_scopes(m.group(1).split("+"))
            except ValueError as exc:
                raise ValueError(f"{origin}: {exc}") from None
    return out


@dataclass
class Key:
    id: str
    name: str
    scopes: list[str]
    created: str
    hash: str


class KeyStore:
    """``keys.json`` under ``directory``: written whole through a temporary file, owner-only."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, "keys.json")

    def load(self) -> list[Key]:
        try:
            with open(self.path, encoding="utf-8") as f:
                return [Key(**k) for k in json.load(f)["keys"]]
        except FileNotFoundError:
            return []

    def _save(self, keys: list[Key]) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"keys": [asdict(k) for k in keys]}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def create(self, name: str, scopes: Iterable[str]) -> tuple[Key, str]:
        """A new key and its token (shown once: only its digest is kept)."""
        token = new_token()
        keys = self.load()
        key = Key(
            id=secrets.token_hex(4),
            name=name,
            scopes=check_scopes(scopes),
            created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            hash=digest(token),
        )
        self._save([*keys, key])
        return key, token

    def revoke(self, key_id: str) -> Key:
        keys = self.load()
        found = [k for k in keys if k.id == key_id]
        if not found:
            raise KeyError(f"no key {key_id!r}; modeltrace keys list shows them")
        self._save([k for k in keys if k.id != key_id])
        return found[0]


class Authenticator:
    """Who may do what: the key store (re-read when it changes) and the configured tokens."""

    def __init__(self, store: KeyStore, configured: Mapping[str, list[str]] | None = None) -> None:
        self.store = store
        self.configured = dict(configured or {})
        # set when a listener reaches beyond this machine: with no key left, nobody gets in
        self.required = False
        self._lock = threading.Lock()
        self._scopes: dict[str, set[str]] = {}
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0
        self._refresh(force=True)

    @classmethod
    def from_config(cls, config: Any) -> Authenticator:
        section = config.auth
        configured = parse_tokens(section.tokens, "auth.tokens")
        if section.tokens_file:
            with open(section.tokens_file, encoding="utf-8") as f:
                configured.update(parse_tokens(f.read(), section.tokens_file))
        return cls(KeyStore(os.path.join(config.data_dir, "auth")), configured)

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_SECONDS:
            return
        with self._lock:
            self._checked = now
            try:
                st = os.stat(self.store.path)
                stamp: tuple[float, int] | None = (st.st_mtime, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp == self._stamp and not force:
                return
            scopes = {d: set(s) for d, s in self.configured.items()}
            for key in self.store.load():
                scopes.setdefault(key.hash, set()).update(key.scopes)
            for granted in scopes.values():
                for scope in list(granted):
                    granted |= IMPLIED.get(scope, set())
            self._scopes, self._stamp = scopes, stamp

    @property
    def enabled(self) -> bool:
        self._refresh()
        return bool(self._scopes)

    def check(self, authorization: str | None, scope: str) -> None:
        """Raises ``AuthError`` unless ``authorization`` (the header's value) grants ``scope``."""
        self._refresh()
        if not self._scopes:
            if self.required:
                raise AuthError(401, "no API key exists on this collector: create one (modeltrace keys create)")
            return
        if not authorization:
            raise AuthError(401, "authentication required: send Authorization: Bearer <token>")
        kind, _, token = authorization.strip().partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AuthError(401, "authentication required: send Authorization: Bearer <token>")
        granted = self._scopes.get(digest(token.strip()))
        if granted is None:
            raise AuthError(401, "unknown or revoked token")
        if scope not in granted:
            raise AuthError(403, f"this token lacks the {scope!r} scope (it has: {', '.join(sorted(granted))})")


class GrpcAuth(grpc.ServerInterceptor):
    """Every call needs ``scope``: UNAUTHENTICATED or PERMISSION_DENIED otherwise (never retried
    by OTLP exporters)."""

    def __init__(self, auth: Authenticator, scope: str) -> None:
        self.auth, self.scope = auth, scope

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        metadata = dict(details.invocation_metadata or ())
        try:
            self.auth.check(metadata.get("authorization"), self.scope)
        except AuthError as exc:
            code = grpc.StatusCode.UNAUTHENTICATED if exc.status == 401 else grpc.StatusCode.PERMISSION_DENIED
            message = str(exc)

            def deny(_request: Any, context: Any) -> Any:
                context.abort(code, message)

            make = (
                grpc.unary_unary_rpc_method_handler if handler.unary_unary else
                grpc.unary_stream_rpc_method_handler if handler.unary_stream else
                grpc.stream_unary_rpc_method_handler if handler.stream_unary else
                grpc.stream_stream_rpc_method_handler
            )  # fmt: skip
            return make(deny, handler.request_deserializer, handler.response_serializer)
        return handler
