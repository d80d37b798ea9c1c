"""The web UI's files, served at ``/`` and ``/ui/`` of the API listener.

The files hold no data (every value the UI shows comes from the JSON API, under the read
scope), so they are served without a token: the browser loads the page, and the page asks
for a token when the API answers 401. They are read once from the package, and answered with
an ETag so a reload costs a 304.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from importlib.resources.abc import Traversable

PREFIX = "/ui/"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
# the page runs only its own scripts and talks only to its own origin
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class StaticFiles:
    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str, str]] = {}
        self._load(resources.files(__package__.rpartition(".")[0]).joinpath("ui"), "")

    def _load(self, folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                self._load(entry, name + "/")
                continue
            ctype = next((t for ext, t in TYPES.items() if entry.name.endswith(ext)), None)
            if ctype is not None:
                data = entry.read_bytes()
                self._files[name] = (data, ctype, '"' + hashlib.sha256(data).hexdigest()[:20] + '"')

    def names(self) -> list[str]:
        return sorted(self._files)

    def answer(self, path: str, if_none_match: str | None) -> tuple[int, str, bytes, dict[str, str]] | None:
        """(status, content type, body, headers) for a UI path; None when ``path`` is not one."""
        if path in ("/", "/index.html"):
            name = "index.html"
        elif path.startswith(PREFIX):
            name = path[len(PREFIX) :]
        else:
            return None
        found = self._files.get(name)
        if found is None:
            return 404, "text/plain; charset=utf-8", f"no UI file {name[:100]!r}".encode(), dict(SECURITY_HEADERS)
        data, ctype, etag = found
        headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": "no-cache"}
        if if_none_match == etag:
            return 304, ctype, b"", headers
        return 200, ctype, data, headers
