"""Bytecode compiled once for every environment that holds the same file.

uv installs a package into each virtual environment as hard links to one copy
in its cache, so environments of the same packages hold the same files (the
same inodes). The suite keeps bytecode in a tree of its own
(``PYTHONPYCACHEPREFIX``, tests/conftest.py), where Python files it by the
source's path: each new environment compiled SQLAlchemy, FastAPI, pydantic and
the rest again (a default bake's first ``alembic upgrade head`` took 3.3 s of
CPU, 1.0 s with the bytecode of another environment; its first test run 21 s,
14 s). Bytecode is valid for any path of the same inode: its header holds the
source's mtime and size, which a hard link shares, and the loader corrects the
file name in the code. So the bytecode an environment compiled is filed by inode
(``contribute``), and a new environment gets, as hard links, the bytecode of
every file already filed (``adopt``). A file Python finds stale it compiles
again, replacing the link, never the shared copy.
"""

import os
import struct
from pathlib import Path

MASK = 0xFFFFFFFF  # the header keeps the low 32 bits of mtime and size
_MADE: list[Path] = []  # environments adopted by this process, to contribute later


def _prefix() -> Path | None:
    prefix = os.environ.get("PYTHONPYCACHEPREFIX")
    return Path(prefix) if prefix else None


def _site_packages(venv: Path) -> tuple[Path, str] | None:
    """The environment's site-packages and its bytecode tag (``cpython-312``)."""
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    if not found:
        return None
    version = found[0].parent.name.removeprefix("python").replace(".", "")
    return found[0], f"cpython-{version}"


def _mirror(prefix: Path, directory: Path) -> Path:
    return prefix / Path(os.path.abspath(directory)).relative_to("/")


def _filed(prefix: Path, source: os.stat_result, tag: str) -> Path:
    return prefix / ".by-inode" / f"{source.st_dev}-{source.st_ino}.{tag}.pyc"


def adopt(venv: Path) -> int:
    """Link the filed bytecode of ``venv``'s files into place; how many were linked."""
    prefix, found = _prefix(), _site_packages(venv)
    if prefix is None or found is None:
        return 0
    site, tag = found
    _MADE.append(venv)
    mirror, linked = _mirror(prefix, site), 0
    for directory, _, files in os.walk(site):
        for name in files:
            if not name.endswith(".py"):
                continue
            stat = os.stat(os.path.join(directory, name))
            filed = _filed(prefix, stat, tag)
            if stat.st_nlink < 2 or not filed.exists():
                continue
            target = mirror / os.path.relpath(directory, site) / f"{name[:-3]}.{tag}.pyc"
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(filed, target)
                linked += 1
            except FileExistsError:
                pass
    return linked


def contribute(venv: Path) -> int:
    """File by inode the bytecode compiled for ``venv``'s files; how many were new."""
    prefix, found = _prefix(), _site_packages(venv)
    if prefix is None or found is None:
        return 0
    site, tag = found
    mirror, suffix, filed_now = _mirror(prefix, site), f".{tag}.pyc", 0
    (prefix / ".by-inode").mkdir(parents=True, exist_ok=True)
    for directory, _, files in os.walk(mirror):
        for name in files:
            if not name.endswith(suffix):
                continue
            compiled = Path(directory, name)
            source = site / compiled.parent.relative_to(mirror) / (name[: -len(suffix)] + ".py")
            try:
                stat = source.stat()
                with compiled.open("rb") as file:
                    header = file.read(16)
            except OSError:
                continue
            if len(header) < 16 or stat.st_nlink < 2:
                continue
            # After the magic number: flags (0: checked by mtime and size), mtime, size.
            flags, mtime, size = struct.unpack("<III", header[4:16])
            if (flags, mtime, size) != (0, int(stat.st_mtime) & MASK, stat.st_size & MASK):
                continue  # not compiled from this file as it is now
            try:
                os.link(compiled, _filed(prefix, stat, tag))
                filed_now += 1
            except FileExistsError:
                pass
    return filed_now


def contribute_adopted() -> None:
    """Contribute every environment this process adopted, once."""
    while _MADE:
        contribute(_MADE.pop())
