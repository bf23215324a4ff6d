"""Object storage: buckets and keys on S3 (through s3fs) or under a local root folder.

``open_store(env)`` is the one factory: ``BACKTEST_STORAGE_ROOT`` set -> :class:`LocalStore`
(bucket ``b`` is the folder ``ROOT/b``), else ``engine.store.s3.S3Store`` over an s3fs
filesystem that honours ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``. This module and
``engine.store.s3`` (imported only when S3 is used) are the only engine code that touches
s3fs/botocore.

Both stores behave the same way:

- ``put_bytes`` is atomic per object (local: temp file in the same folder + ``os.replace``;
  S3: one PUT). Writing into a bucket that does not exist is a :class:`NotFoundError` on both;
  ``create_bucket`` makes one.
- ``list(bucket, prefix, delimiter)`` returns objects only (sorted by key); with
  ``delimiter="/"`` only the objects directly under ``prefix``. ``list_dirs(bucket, prefix)``
  returns the common prefixes directly under ``prefix`` (each ending in ``/``).
- ``delete`` of a missing key is a no-op (as on S3); a missing bucket is a NotFoundError.
- Bad bucket names and keys (``..``, absolute paths, empty segments) are a :class:`ParamError`;
  a missing bucket or key a :class:`NotFoundError`; network, permission or disk failures an
  :class:`InfraError` (``StorageUnreachable`` when the store cannot be reached at all).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import InfraError, NotFoundError, ParamError

BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
MAX_KEY_LENGTH = 1024
FILE_MODE = 0o644
TEMP_PREFIX = ".tmp-"
# errno -> what the "disk full" message says: no space, a file size limit (RLIMIT_FSIZE), quota
DISK_FULL = {
    errno.ENOSPC: "no space left on device",
    errno.EFBIG: "file size limit reached",
    errno.EDQUOT: "disk quota exceeded",
}


class StorageUnreachable(InfraError):
    """The store cannot be reached at all (endpoint down, no credentials)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: ``etag`` is the S3 ETag (quotes stripped) or the local sha256."""

    bucket: str
    key: str
    size: int
    modified: datetime | None
    etag: str | None


Infos = list[ObjectInfo]  # aliases: inside the stores `list` is the method
Names = list[str]


def validate_bucket(bucket: str) -> str:
    """Return ``bucket`` if it is a plain bucket name, else raise :class:`ParamError`."""
    if not isinstance(bucket, str) or not BUCKET_RE.match(bucket) or ".." in bucket:
        raise ParamError(
            f"invalid bucket name {bucket!r}: use 3-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit (no '/', no '..')"
        )
    return bucket


def validate_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it stays inside its bucket, else raise :class:`ParamError`.

    A key is '/'-separated segments, none empty, '.' or '..', no leading '/', no backslash or
    control characters. With ``prefix=True`` the empty string and a trailing '/' are allowed.
    """
    if not isinstance(key, str):
        raise ParamError(f"invalid key {key!r}: must be a string")
    if prefix and key == "":
        return key
    problem = _key_problem(key[:-1] if prefix and key.endswith("/") else key)
    if problem:
        raise ParamError(f"invalid key {key!r}: {problem}")
    return key


def _key_problem(key: str) -> str | None:
    if not key:
        return "empty key"
    if len(key) > MAX_KEY_LENGTH:
        return f"longer than {MAX_KEY_LENGTH} characters"
    if key.startswith("/"):
        return "absolute paths are not allowed"
    if "\\" in key or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return "backslashes and control characters are not allowed"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return "'..', '.' and empty path segments are not allowed"
    return None


class Store(ABC):
    """Bucket/key storage; see the module docstring for the shared semantics."""

    @abstractmethod
    def get_bytes(self, bucket: str, key: str) -> bytes:
        """The object's bytes; NotFoundError for a missing bucket or key."""

    @abstractmethod
    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        """Write the object atomically (readers see the old or the new bytes, never a mix)."""

    @abstractmethod
    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Size, modification time and ETag/sha256 of one object; NotFoundError if missing."""

    @abstractmethod
    def list(self, bucket: str, prefix: str = "", delimiter: str | None = None) -> Infos:
        """Objects whose key starts with ``prefix`` (only direct children with delimiter '/')."""

    @abstractmethod
    def list_dirs(self, bucket: str, prefix: str = "") -> Names:
        """Common prefixes directly under ``prefix``, each ending in '/'."""

    @abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Remove one object; a missing key is not an error."""

    @abstractmethod
    def bucket_exists(self, bucket: str) -> bool:
        """True if the bucket exists (and is accessible)."""

    @abstractmethod
    def create_bucket(self, bucket: str) -> None:
        """Create the bucket if it does not exist yet."""

    @abstractmethod
    def describe(self) -> str:
        """Where the buckets live, for messages: 'local folder /x' or 'S3 (endpoint ...)'."""

    def exists(self, bucket: str, key: str) -> bool:
        """True if the object exists; False for a missing key or bucket."""
        try:
            self.head(bucket, key)
        except NotFoundError:
            return False
        return True

    def uri(self, bucket: str, key: str = "") -> str:
        """The s3-style address of a key, used in messages and printed by the CLI."""
        return f"s3://{bucket}/{key}"


def check_delimiter(delimiter: str | None) -> None:
    """Only "/" (or no delimiter) is supported."""
    if delimiter not in (None, "/"):
        raise ParamError(f"only '/' is supported as a delimiter, got {delimiter!r}")


def _split_listing(
    keys: list[str], prefix: str, delimiter: str | None
) -> tuple[list[str], list[str]]:
    """(direct object keys, common prefixes) of sorted ``keys`` that all start with prefix."""
    if delimiter is None:
        return keys, []
    objects: list[str] = []
    dirs: list[str] = []
    for key in keys:
        rest = key[len(prefix) :]
        if "/" in rest:
            d = prefix + rest.split("/", 1)[0] + "/"
            if not dirs or dirs[-1] != d:
                dirs.append(d)
        else:
            objects.append(key)
    return objects, sorted(set(dirs))


# --------------------------------------------------------------------------------------------
# Local folder


class LocalStore(Store):
    """Buckets are folders under ``root``; nothing resolves outside it, even through symlinks."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def describe(self) -> str:
        """Where the buckets live."""
        return f"local folder {self.root}"

    # -- paths ------------------------------------------------------------------------------
    def _bucket_dir(self, bucket: str) -> Path:
        path = self.root / validate_bucket(bucket)
        self._inside(path, bucket, "")
        return path

    def _within(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        return real == self.root or self.root in real.parents

    def _inside(self, path: Path, bucket: str, key: str) -> None:
        if not self._within(path):
            raise ParamError(f"key {key!r} in bucket {bucket!r} resolves outside {self.root}")

    def _existing_bucket(self, bucket: str) -> Path:
        path = self._bucket_dir(bucket)
        if not path.is_dir():
            raise NotFoundError(f"bucket {bucket!r} does not exist in {self.describe()}")
        return path

    def _path(self, bucket: str, key: str) -> Path:
        validate_bucket(bucket)
        validate_key(key)
        path = self._existing_bucket(bucket) / key
        self._inside(path, bucket, key)
        return path

    @contextmanager
    def _os_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise InfraError(
                    f"disk full under {self.root} while {what} ({DISK_FULL[exc.errno]}); "
                    "free space there, then retry"
                ) from exc
            if isinstance(exc, PermissionError):
                raise InfraError(f"permission denied under {self.root} while {what}") from exc
            raise InfraError(f"storage error under {self.root} while {what}: {exc}") from exc

    # -- objects ----------------------------------------------------------------------------
    def get_bytes(self, bucket: str, key: str) -> bytes:
        """The object's bytes."""
        path = self._path(bucket, key)
        if not path.is_file():
            raise NotFoundError(f"no key {key!r} in bucket {bucket!r}")
        with self._os_errors(f"reading {self.uri(bucket, key)}"):
            return path.read_bytes()

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        """Write via a temp file in the same folder, fsync, then ``os.replace``."""
        path = self._path(bucket, key)
        with self._os_errors(f"writing {self.uri(bucket, key)}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._inside(path.parent, bucket, key)
            if path.is_dir():
                raise ParamError(f"key {key!r} in bucket {bucket!r} is a folder of other keys")
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
            try:
                os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; results are for the team to read
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Size, mtime (UTC) and the sha256 of the content as the ETag."""
        path = self._path(bucket, key)
        if not path.is_file():
            raise NotFoundError(f"no key {key!r} in bucket {bucket!r}")
        with self._os_errors(f"reading {self.uri(bucket, key)}"):
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            return self._info(bucket, key, path, digest.hexdigest())

    @staticmethod
    def _info(bucket: str, key: str, path: Path, etag: str | None) -> ObjectInfo:
        st = path.stat()
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(bucket, key, st.st_size, modified, etag)

    def _keys(self, bucket: str, prefix: str) -> tuple[Path, list[str]]:
        base = self._existing_bucket(bucket)
        validate_key(prefix, prefix=True)
        start = base / prefix.rsplit("/", 1)[0] if "/" in prefix else base
        self._inside(start, bucket, prefix)
        keys: list[str] = []
        if not start.is_dir():
            return base, keys
        for dirpath, dirnames, filenames in os.walk(start):
            # os.walk does not follow symlinked folders; symlinked files must stay inside
            dirnames.sort()
            for name in filenames:
                if name.startswith(TEMP_PREFIX):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(base).as_posix()
                if key.startswith(prefix) and full.is_file() and self._within(full):
                    keys.append(key)
        return base, sorted(keys)

    def list(self, bucket: str, prefix: str = "", delimiter: str | None = None) -> Infos:
        """Objects under ``prefix`` (ETag not computed: use ``head`` for it)."""
        check_delimiter(delimiter)
        base, keys = self._keys(bucket, prefix)
        objects, _ = _split_listing(keys, prefix, delimiter)
        with self._os_errors(f"listing {self.uri(bucket, prefix)}"):
            return [self._info(bucket, k, base / k, None) for k in objects]

    def list_dirs(self, bucket: str, prefix: str = "") -> Names:
        """Common prefixes directly under ``prefix``."""
        _, keys = self._keys(bucket, prefix)
        return _split_listing(keys, prefix, "/")[1]

    def delete(self, bucket: str, key: str) -> None:
        """Remove one file; a missing key is not an error."""
        path = self._path(bucket, key)
        with self._os_errors(f"deleting {self.uri(bucket, key)}"):
            if path.is_file() or path.is_symlink():
                path.unlink()

    def bucket_exists(self, bucket: str) -> bool:
        """True if the bucket folder exists."""
        return self._bucket_dir(bucket).is_dir()

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket folder (and the root) if needed."""
        path = self._bucket_dir(bucket)
        with self._os_errors(f"creating bucket {bucket!r}"):
            path.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------------------------
# Factory (the entry point: the only place a filesystem/client is created)


def open_store(env: Mapping[str, str] | None = None) -> Store:
    """LocalStore under ``BACKTEST_STORAGE_ROOT`` when set, else S3Store over a fresh s3fs."""
    env = os.environ if env is None else env
    root = env.get("BACKTEST_STORAGE_ROOT", "").strip()
    if root:
        return LocalStore(root)
    from engine.store.s3 import S3Store, aws_region, make_s3fs, s3_endpoint

    return S3Store(make_s3fs(env), endpoint=s3_endpoint(env), region=aws_region(env))
