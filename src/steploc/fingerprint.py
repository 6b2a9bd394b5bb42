"""Content fingerprints of input files, so that a changed feature file is recomputed even when
its modification time did not change (``cp -p``, ``rsync -a``, a restored backup).

Snakemake decides reruns from modification times; hashing every input of every job at every
run is what made its own content checksums quadratic in shard size. Instead the video table
records one fingerprint per feature file (size + BLAKE2b of the content), and the hierarchy
stage carries it in its ``params:``: a new fingerprint reruns exactly that video's job.

Hashing is skipped for files whose ``(size, mtime_ns, ctime_ns, inode)`` did not change since
the last run (:class:`FingerprintCache`). ``ctime`` cannot be set by users and changes on every
write, so copying new content over a file with its old mtime still invalidates the cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_CHUNK = 1 << 20
CACHE_FORMAT = 1


def file_fingerprint(path: str | Path) -> str:
    """``"<size>:<blake2b-128 hex>"`` of the file's content."""
    digest = hashlib.blake2b(digest_size=16)
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return f"{size}:{digest.hexdigest()}"


def _stat_key(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class FingerprintCache:
    """Fingerprints by absolute path, reused while a file's stat key is unchanged.

    ``path=None`` keeps nothing between runs (every file is hashed). The cache is a JSON file
    written atomically by :meth:`save`; an unreadable or foreign cache is ignored (it is only
    an accelerator, never a source of truth).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self._entries: dict[str, list] = {}
        self._dirty = False
        self.hashed = 0
        if self.path is not None and self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
                if raw.get("format") == CACHE_FORMAT and isinstance(raw.get("files"), dict):
                    self._entries = raw["files"]
            except (OSError, ValueError, AttributeError):
                self._entries = {}

    def fingerprint(self, path: str | Path) -> str:
        key_path = str(Path(path).resolve())
        stat_key = _stat_key(Path(key_path))
        entry = self._entries.get(key_path)
        if entry is not None and entry[0] == stat_key:
            return str(entry[1])
        value = file_fingerprint(key_path)
        self.hashed += 1
        self._entries[key_path] = [stat_key, value]
        self._dirty = True
        return value

    def save(self) -> None:
        """Write the cache if anything changed (atomically; concurrent runs may race, and the
        last writer wins: harmless, entries are re-validated against the stat key)."""
        if self.path is None or not self._dirty:
            return
        from steploc.io import atomic_path

        try:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({"format": CACHE_FORMAT, "files": self._entries}))
        except OSError:
            return  # a read-only working copy only loses the speed-up
        self._dirty = False
