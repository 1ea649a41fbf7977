"""The dashboard's page works offline: every file it loads is served by alertpipe, and the
vendored charting library is the pinned release, with its license."""

from __future__ import annotations

import hashlib
import re

from app.api.dashboard import STATIC

VENDOR = STATIC / "vendor" / "uplot"
# As listed in app/api/static/vendor/uplot/VERSION.md (uplot 1.6.32 from the npm registry).
PINNED = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}


def test_the_vendored_library_is_the_pinned_release_with_its_license() -> None:
    for name, digest in PINNED.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    notes = (VENDOR / "VERSION.md").read_text(encoding="utf-8")
    assert "1.6.32" in notes and all(digest in notes for digest in PINNED.values())


def test_the_page_loads_nothing_from_elsewhere() -> None:
    ours = [p for p in STATIC.rglob("*") if p.is_file() and "vendor" not in p.parts]
    assert {p.suffix for p in ours} == {".html", ".css", ".js"}
    for path in ours:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), f"{path.name} names a remote address"
        assert "innerHTML" not in text, f"{path.name}: build elements, never parse API text as HTML"
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert loaded and all(url.startswith("/static/") or url.startswith("#") for url in loaded)
