"""Stage 1's hot modules compiled with mypyc, used only when built from the current sources.

``make native`` (run by ``make test``, ``make unit`` and ``make demo``) compiles ``COMPILED`` into
build/native/ (outside the source tree, gitignored) and records a digest of the sources it
was built from. Importing ``streams.aggregate`` puts that folder ahead of the package's own
on its ``__path__`` when the digest still matches, so the extension modules load instead of
the ``.py`` files; with no build, another Python, or an edited source, the pure-Python
modules run, unchanged (docs/design.md record 47). The digest covers every module of this
package and of ``schemas``: compiled code trusts the types of what it imports.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["BUILD", "COMPILED", "build", "digest", "use"]

COMPILED = ("partition", "panes", "validate")  # modules of streams.aggregate: the per-event loop
_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parents[1]
BUILD = _ROOT / "build" / "native" / "streams" / "aggregate"  # where the extensions land
_DIGEST = BUILD / "sources.sha256"


def digest() -> str:
    """Of the sources the compiled modules depend on (this package's and schemas')."""
    sha256 = hashlib.sha256()
    for path in sorted([*_PACKAGE.glob("*.py"), *(_ROOT / "schemas").glob("*.py")]):
        sha256.update(f"{path.parent.name}/{path.name}\0".encode())
        sha256.update(path.read_bytes())
    return sha256.hexdigest()


def use(package_path: list[str]) -> bool:
    """Put the build on ``streams.aggregate``'s path when it matches the sources."""
    if not _DIGEST.is_file() or _DIGEST.read_text(encoding="ascii").strip() != digest():
        return False
    package_path.insert(0, str(BUILD))
    return True


def build() -> None:
    """Compile ``COMPILED`` into ``BUILD`` unless it is current (needs a C compiler)."""
    current = digest()
    if _DIGEST.is_file() and _DIGEST.read_text(encoding="ascii").strip() == current:
        return
    # Build-time only: mypyc ships with mypy (a dev dependency), setuptools drives the compiler.
    from mypyc.build import mypycify
    from setuptools import Distribution

    print("setup: compiling stage 1's hot modules with mypyc (first run: ~1 min) …", flush=True)
    _DIGEST.unlink(missing_ok=True)
    work = _ROOT / "build" / "native-c"
    modules = [str(_PACKAGE / f"{name}.py") for name in COMPILED]
    # One group, its shared library inside the package: nothing lands at the top level.
    extensions = mypycify(modules, group_name="streams.aggregate.compiled", target_dir=str(work))
    distribution = Distribution({"name": "alertpipe-native", "ext_modules": extensions})
    command = distribution.get_command_obj("build_ext")
    command.build_lib = str(_ROOT / "build" / "native")
    command.build_temp = str(work / "temp")
    distribution.run_command("build_ext")
    _DIGEST.write_text(current + "\n", encoding="ascii")
