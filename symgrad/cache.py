"""The persistent compile cache: object code on disk, so a kernel is compiled once, ever.

The runtime asks it for the object code of a module by a key that hashes
everything the code depends on: the module's LLVM IR (or the graph and
kernel kind it is lowered from), the target (triple, CPU, features), LLVM's
version, the optimisation level, the code generator's settings, the Python
ABI and symgrad's own source. Code holds no address of the process that
made it, so any process may load it.

One file per entry, `<key>.sgo` under `$SYMGRAD_CACHE_DIR` (default
`$XDG_CACHE_HOME/symgrad`, else `~/.cache/symgrad`): a magic line, the
SHA-256 of the object code, the object code. Entries are written to a
temporary file and renamed into place, so concurrent processes and a kill
mid-write never leave a partial entry under a key; an entry whose checksum
does not match (truncated, damaged) is deleted and rebuilt, never loaded.
The directory is kept under a size limit (`$SYMGRAD_CACHE_MAX_SIZE`, default
1 GiB; `set_cache_limit`) by deleting the least recently used entries (a hit
touches its file). `SYMGRAD_CACHE=0` turns the cache off. A cache that
cannot be written (read-only or full disk) is skipped, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .progress import Build

_MAGIC = b"symgrad object code 1\n"
_DIGEST = 32
_SUFFIX = ".sgo"
_ENTRY = re.compile(r"[0-9a-f]{64}\.sgo")
# Temporary files older than this are left over from killed writers.
_STALE_SECONDS = 3600
DEFAULT_MAX_BYTES = 1 << 30
_RESCAN_STORES = 64

logger = logging.getLogger("symgrad")


class CacheInfo(NamedTuple):
    """What the compile cache holds and did in this process."""

    hits: int  # modules loaded from the cache
    misses: int  # modules compiled (and stored)
    entries: int  # entries on disk
    bytes: int  # their total size
    directory: str
    max_bytes: int
    enabled: bool


class _Settings:
    def __init__(self) -> None:
        self.enabled = os.environ.get("SYMGRAD_CACHE", "1").strip() != "0"
        self.directory = Path(os.environ.get("SYMGRAD_CACHE_DIR") or _default_directory())
        try:
            self.max_bytes = _parse_size(os.environ.get("SYMGRAD_CACHE_MAX_SIZE"), "SYMGRAD_CACHE_MAX_SIZE")
        except ValueError as e:
            warnings.warn(f"{e}; using the default, 1G", RuntimeWarning, stacklevel=2)
            self.max_bytes = DEFAULT_MAX_BYTES
        self.hits = 0
        self.misses = 0
        self.unwritable = False
        # The directory's size as last scanned plus what this process wrote since (None: not
        # scanned yet): a store scans the directory only when this passes the limit.
        self.estimated_bytes: int | None = None
        self.stores_since_scan = 0


def _default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"


def _parse_size(text: str | None, where: str) -> int:
    """Bytes from `1073741824`, `500M`, `2G` or `64k` (powers of 1024)."""
    if text is None or not text.strip():
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgGtT]?)i?[bB]?\s*", text)
    if match is None:
        raise ValueError(f"{where}={text!r} is not a size; write bytes or a number with K, M or G (e.g. 500M, 2G)")
    return int(match[1]) * 1024 ** " KMGT".index((match[2] or " ").upper())


_settings = _Settings()
_lock = threading.Lock()
_fingerprint: str | None = None


def enabled() -> bool:
    return _settings.enabled and not _settings.unwritable


def key(*parts) -> str:
    """The key of an entry: a hash of `parts` (bytes, strings, numbers, tuples), the Python
    ABI and symgrad's source."""
    digest = hashlib.sha256(source_fingerprint().encode())
    _hash_into(digest, (sys.implementation.cache_tag, parts))
    return digest.hexdigest()


def _hash_into(digest, part) -> None:
    # Each part is written with its type and length, so no two different values write the same bytes.
    if isinstance(part, (tuple, list)):
        digest.update(b"(%d:" % len(part))
        for item in part:
            _hash_into(digest, item)
    else:
        data = part if isinstance(part, bytes) else part.encode() if isinstance(part, str) else repr(part).encode()
        digest.update(b"%s%d:" % (type(part).__name__.encode(), len(data)))
        digest.update(data)


def source_fingerprint() -> str:
    """A hash of symgrad's version and every source file of the package, read once.

    Code generation lives in these files: an edited lowering rule must
    never load code made by the old one, even at the same version number.
    """
    global _fingerprint
    if _fingerprint is None:
        from . import __version__

        digest = hashlib.sha256(__version__.encode())
        package = Path(__file__).parent
        try:
            for path in sorted(package.rglob("*.py")):
                digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
        except OSError:  # sources not readable as files (a zip): the version alone
            digest = hashlib.sha256(__version__.encode() + b"\0unreadable sources")
        _fingerprint = digest.hexdigest()
    return _fingerprint


# ----- Object code through the cache -----

# Kernel names end in a number unique in their process (`kernel_id`); cached code holds a
# placeholder of the same length instead, so putting the number back is a byte replacement.
_KERNEL_ID = re.compile(r"__sg[0-9a-f]{8}")
_MAX_KERNEL_IDS = 100


def kernel_id(number: int) -> str:
    return f"__sg{number:08x}"


def _placeholder(k: int) -> str:
    return f"__sgXXXXXX{k:02d}"


def _canonical(text: str, kernel_ids: list[str] | None = None) -> tuple[str, list[str]]:
    """`text` with kernel ids replaced by placeholders (numbered in sorted order), and the ids."""
    if kernel_ids is None:
        kernel_ids = sorted(set(_KERNEL_ID.findall(text)))
    for k, number in enumerate(kernel_ids[:_MAX_KERNEL_IDS]):
        text = text.replace(number, _placeholder(k))
    return text, kernel_ids


def with_kernel_ids(code: bytes, kernel_ids: list[str]) -> bytes:
    """Object code from `object_code` with its placeholders replaced by this process's kernel ids."""
    for k, number in enumerate(kernel_ids):
        code = code.replace(_placeholder(k).encode(), number.encode())
    return code


def object_code(source: str | Callable[[], str], names: list[str], graph: Any,
                environment: Callable[[], tuple], compile: Callable[[str, Build], bytes],
                build: Build) -> tuple[bytes, list[str]]:
    """A module's object code, loaded from the cache or compiled (and stored): with kernel ids
    as placeholders (see `with_kernel_ids`), and the ids to put back.

    Args:
        source: the module's LLVM IR text, or a function that makes it.
        names: the functions the module defines for its caller.
        graph: what determines the IR text exactly (a graph and kernel kind), so that a
            hit need not make the text; None to key by the text itself.
        environment: what the code depends on besides its module (target, LLVM, options).
        compile: IR text to object code.
        build: the build's record (stages, cache outcome).
    """
    text = canonical = None
    if graph is None:
        text = _text(source, build)
        canonical, kernel_ids = _canonical(text)
        material = ("ir", canonical)
    else:
        kernel_ids = sorted(set(_KERNEL_ID.findall(" ".join(names))))
        material = ("graph", graph, _canonical(" ".join(names), kernel_ids)[0])
    entry = None
    if enabled() and len(kernel_ids) <= _MAX_KERNEL_IDS:
        with build.stage("key"):
            entry = key(material, environment())
        with build.stage("load"):
            code = load(entry)
        if code is not None:
            build.cache = "hit"
            return code, kernel_ids
        build.cache = "miss"
    build.compiling()
    if text is None:
        text = _text(source, build)
        canonical, text_ids = _canonical(text)
        if text_ids != kernel_ids:
            entry = None  # a hit could not tell which ids to put back
    code = compile(canonical, build)
    if entry is not None:
        store(entry, code)
    return code, kernel_ids


def _text(source: str | Callable[[], str], build: Build) -> str:
    if isinstance(source, str):
        return source
    with build.stage("lower"):
        text = source()
    build.lowered(len(text))
    return text


# ----- Entries on disk -----


def load(entry_key: str) -> bytes | None:
    """The object code stored under `entry_key`, or None (counted as a miss)."""
    path = _settings.directory / (entry_key + _SUFFIX)
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if data is not None:
        payload = _checked(data)
        if payload is not None:
            try:
                os.utime(path)  # most recently used
            except OSError:
                pass
            with _lock:
                _settings.hits += 1
            return payload
        logger.warning("compile cache entry %s is damaged; deleted, compiling again", path)
        _remove(path)
    with _lock:
        _settings.misses += 1
    return None


def _checked(data: bytes) -> bytes | None:
    head = len(_MAGIC) + _DIGEST
    if len(data) <= head or not data.startswith(_MAGIC):
        return None
    payload = data[head:]
    return payload if hashlib.sha256(payload).digest() == data[len(_MAGIC):head] else None


def store(entry_key: str, payload: bytes) -> None:
    """Write an entry atomically, then evict the least recently used beyond the size limit."""
    directory = _settings.directory
    entry = _MAGIC + hashlib.sha256(payload).digest() + payload
    if len(entry) > _settings.max_bytes:
        return
    temporary = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=_SUFFIX, dir=directory)
        with os.fdopen(descriptor, "wb") as file:
            file.write(entry)
        os.replace(temporary, directory / (entry_key + _SUFFIX))
        temporary = None
    except OSError as e:
        if temporary is not None:
            _remove(Path(temporary))
        _settings.unwritable = True
        warnings.warn(f"symgrad cannot write its compile cache in {directory} ({e}); compiling without it. "
                      "Set SYMGRAD_CACHE_DIR to a writable directory, or SYMGRAD_CACHE=0.", RuntimeWarning,
                      stacklevel=2)
        return
    with _lock:
        _settings.stores_since_scan += 1
        if _settings.estimated_bytes is not None:
            _settings.estimated_bytes += len(entry)
        # Other processes write too: scan now and then even when this one's count stays low.
        scan = _settings.estimated_bytes is None or _settings.estimated_bytes > _settings.max_bytes \
            or _settings.stores_since_scan >= _RESCAN_STORES
    if scan:
        evict(_settings.max_bytes)


def _entries() -> list[os.DirEntry]:
    try:
        with os.scandir(_settings.directory) as scan:
            return [e for e in scan if _ENTRY.fullmatch(e.name)]
    except OSError:
        return []


def evict(max_bytes: int) -> None:
    """Delete least recently used entries until the directory holds at most `max_bytes`."""
    sized = []
    for entry in _entries():
        try:
            stat = entry.stat()
        except OSError:
            continue
        sized.append((stat.st_mtime, stat.st_size, entry.path))
    total = sum(size for _, size, _ in sized)
    for _, size, path in sorted(sized):
        if total <= max_bytes:
            break
        _remove(Path(path))
        total -= size
    with _lock:
        _settings.estimated_bytes = total
        _settings.stores_since_scan = 0
    _remove_stale_temporaries()


def _remove_stale_temporaries() -> None:
    now = time.time()
    try:
        with os.scandir(_settings.directory) as scan:
            for entry in scan:
                if entry.name.startswith(".tmp-") and entry.name.endswith(_SUFFIX):
                    try:
                        if now - entry.stat().st_mtime > _STALE_SECONDS:
                            _remove(Path(entry.path))
                    except OSError:
                        pass
    except OSError:
        pass


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# ----- Public functions (re-exported by symgrad) -----


def cache_info() -> CacheInfo:
    """What the persistent compile cache holds, and its hits and misses in this process.

    >>> import symgrad as sg
    >>> info = sg.cache_info()
    >>> info.hits >= 0 and info.entries >= 0
    True
    """
    entries = 0
    total = 0
    for entry in _entries():
        try:
            total += entry.stat().st_size
            entries += 1
        except OSError:
            pass
    return CacheInfo(_settings.hits, _settings.misses, entries, total, str(_settings.directory),
                     _settings.max_bytes, enabled())


def clear_cache(disk: bool = True) -> None:
    """Forget compiled kernels: those `jvp`/`vjp`/`jit` hold in memory, the hit and miss
    counts, and with `disk=True` every entry of the persistent compile cache.

    Kernels already made keep working; transformed callables keep theirs
    (`F.clear_cache()` forgets those).
    """
    from . import clear_caches

    clear_caches()
    with _lock:
        _settings.hits = _settings.misses = 0
    if disk:
        for entry in _entries():
            _remove(Path(entry.path))
        _settings.estimated_bytes = None


def set_cache_limit(max_bytes: int | str) -> None:
    """Keep the persistent compile cache under `max_bytes` (an int, or a size such as "500M"),
    evicting the least recently used entries now and whenever one is added.

    The default is 1 GiB, or `$SYMGRAD_CACHE_MAX_SIZE`.
    """
    if isinstance(max_bytes, str):
        size = _parse_size(max_bytes, "max_bytes")
    elif isinstance(max_bytes, int) and not isinstance(max_bytes, bool) and max_bytes >= 0:
        size = max_bytes
    else:
        raise ValueError(f"`set_cache_limit` takes a number of bytes (>= 0) or a size such as '500M', "
                         f"got {max_bytes!r}")
    _settings.max_bytes = size
    evict(size)


def configure(directory: str | os.PathLike | None = None, enabled: bool | None = None) -> tuple[Path, bool]:
    """Use another cache directory, or turn the cache on or off; returns the previous settings."""
    previous = (_settings.directory, _settings.enabled)
    if directory is not None:
        _settings.directory = Path(directory)
        _settings.unwritable = False
        _settings.estimated_bytes = None
    if enabled is not None:
        _settings.enabled = bool(enabled)
    return previous
