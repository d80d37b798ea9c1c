"""The key store under concurrent changes, and when its file is broken."""

from __future__ import annotations

import json
import threading

import pytest

from modeltrace_collector.auth import Authenticator, AuthError, KeyStore, KeysUnreadable


def test_concurrent_creates_and_revokes_lose_nothing(tmp_path):
    store = KeyStore(str(tmp_path / "auth"))
    doomed = [store.create(f"doomed-{i}", ["read"])[0] for i in range(8)]
    made: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                made.append(store.create(f"k{n}-{i}", ["ingest"])[0].id)
            store.revoke(doomed[n].id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    kept = {k.id for k in store.load()}
    assert kept == set(made) and len(made) == 80  # every create kept, every revoke stuck
    assert not list((tmp_path / "auth").glob("*.tmp"))


def test_a_broken_key_file_locks_rather_than_opens(tmp_path, caplog):
    store = KeyStore(str(tmp_path / "auth"))
    _, token = store.create("reader", ["read"])
    auth = Authenticator(store, {})
    auth.check(f"Bearer {token}", "read")
    with open(store.path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"keys": []})[:-3])  # torn
    with pytest.raises(KeysUnreadable):
        store.load()
    auth._refresh(force=True)
    auth.check(f"Bearer {token}", "read")  # the keys read before stay in force
    assert "cannot be read as keys" in caplog.text
    # a collector starting on the broken file takes no one (but its configured tokens)
    fresh = Authenticator(store, {})
    assert fresh.enabled
    with pytest.raises(AuthError) as info:
        fresh.check(f"Bearer {token}", "read")
    assert info.value.status == 401


def test_a_key_file_that_cannot_be_read_for_a_moment_is_read_again(tmp_path, monkeypatch):
    """No file descriptor left (EMFILE) while a key is revoked: the revocation still takes effect
    once the file can be read, not when it next changes."""
    import builtins
    import errno

    store = KeyStore(str(tmp_path / "auth"))
    key, token = store.create("leaked", ["read"])
    store.create("other", ["read"])
    auth = Authenticator(store, {})
    auth.check(f"Bearer {token}", "read")
    store.revoke(key.id)
    real_open = builtins.open
    failures = iter([OSError(errno.EMFILE, "Too many open files")])

    def flaky_open(path, *args, **kwargs):
        if str(path) == store.path:
            failure = next(failures, None)
            if failure is not None:
                raise failure
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", flaky_open)
    auth._checked = 0.0  # the next check looks at the file (once a second at most)
    auth._refresh()  # the file changed, its read fails: the keys read before stay
    auth.check(f"Bearer {token}", "read")
    auth._checked = 0.0
    auth._refresh()  # the file has not changed since, and is read again: the revocation is seen
    with pytest.raises(AuthError) as info:
        auth.check(f"Bearer {token}", "read")
    assert info.value.status == 401
