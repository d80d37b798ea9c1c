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
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import grpc

SCOPES = ("ingest", "read", "admin")
IMPLIED = {"admin": {"read"}}
TOKEN_PREFIX = "mt_"  # noqa: S105 -- the prefix of every token, not a secret
_ENTRY = re.compile(r"^([a-z+]+):(\S+)$")
RELOAD_SECONDS = 1.0
MIN_TOKEN_CHARS = 16
log = logging.getLogger("modeltrace.auth")


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
    """``SCOPE[+SCOPE]:TOKEN`` entries (spaces, commas or lines between; a line that starts
    with ``#`` is a comment, a ``#`` inside a token is part of it) as {token digest: scopes}.
    Errors never repeat the entry: it may be a secret."""
    out: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for entry in re.split(r"[\s,]+", line.strip()):
            if not entry:
                continue
            m = _ENTRY.match(entry)
            if not m:
                raise ValueError(f"{origin}: line {number}: expected SCOPE[+SCOPE]:TOKEN")
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


class KeysUnreadable(Exception):
    """``keys.json`` exists and cannot be read as keys; ``transient``: reading it failed (no file
    descriptor left, a permission), not its content."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class KeyStore:
    """``keys.json`` under ``directory``: written whole through a temporary file, owner-only.
    Changes (create, revoke) hold ``keys.lock``, so that two at once cannot lose one another."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, "keys.json")

    def load(self) -> list[Key]:
        try:
            with open(self.path, encoding="utf-8") as f:
                return [Key(**k) for k in json.load(f)["keys"]]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise KeysUnreadable(f"{self.path} cannot be read: {exc}", transient=True) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise KeysUnreadable(f"{self.path} cannot be read as keys: {exc}") from None

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.directory, "keys.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _save(self, keys: list[Key]) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"keys": [asdict(k) for k in keys]}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def create(self, name: str, scopes: Iterable[str]) -> tuple[Key, str]:
        """A new key and its token (shown once: only its digest is kept)."""
        token = new_token()
        key = Key(
            id=secrets.token_hex(4),
            name=name,
            scopes=check_scopes(scopes),
            created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            hash=digest(token),
        )
        with self._changing():
            self._save([*self.load(), key])
        return key, token

    def revoke(self, key_id: str) -> Key:
        with self._changing():
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
        self.unreadable = False  # keys.json exists and cannot be read
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
            try:
                keys = self.store.load()
            except KeysUnreadable as exc:
                # the keys read before stay in force (at the start: the configured tokens
                # only); a broken key file locks the collector, it never opens it
                log.error("%s; the keys read before stay in force until it is read", exc)
                if self._stamp is None and not self.unreadable:
                    self._scopes = _granted(self.configured.items())
                self.unreadable = True
                if not exc.transient:  # a read that failed is tried again at the next check
                    self._stamp = stamp
                return
            self.unreadable = False
            pairs = [*self.configured.items(), *((key.hash, key.scopes) for key in keys)]
            self._scopes, self._stamp = _granted(pairs), stamp

    @property
    def enabled(self) -> bool:
        self._refresh()
        return bool(self._scopes) or self.unreadable

    def check(self, authorization: str | None, scope: str) -> None:
        """Raises ``AuthError`` unless ``authorization`` (the header's value) grants ``scope``."""
        self._refresh()
        if not self._scopes and not self.unreadable:
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


def _granted(pairs: Iterable[tuple[str, list[str]]]) -> dict[str, set[str]]:
    """{token digest: every scope it grants}, the implied ones included."""
    scopes: dict[str, set[str]] = {}
    for token_digest, named in pairs:
        scopes.setdefault(token_digest, set()).update(named)
    for granted in scopes.values():
        for scope in list(granted):
            granted |= IMPLIED.get(scope, set())
    return scopes


class GrpcAuth(grpc.aio.ServerInterceptor):
    """Every call needs ``scope``: UNAUTHENTICATED or PERMISSION_DENIED otherwise (never retried
    by OTLP exporters), answered as soon as the call's headers arrive."""

    def __init__(self, auth: Authenticator, scope: str) -> None:
        self.auth, self.scope = auth, scope

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        metadata = dict(details.invocation_metadata or ())
        try:
            self.auth.check(metadata.get("authorization"), self.scope)
        except AuthError as exc:
            code = grpc.StatusCode.UNAUTHENTICATED if exc.status == 401 else grpc.StatusCode.PERMISSION_DENIED
            message = str(exc)

            async def deny(_requests: Any, context: Any) -> Any:
                await context.abort(code, message)

            # request-streaming: the refusal does not wait for the call's message
            make = (
                grpc.stream_stream_rpc_method_handler
                if handler.response_streaming
                else grpc.stream_unary_rpc_method_handler
            )
            return make(deny, handler.request_deserializer, handler.response_serializer)
        return handler
