"""Storage: one small interface, a local-folder and an S3 implementation.

Bulk data goes through pyarrow filesystems (`Store.arrow_fs`); commit points (`_manifest.json`,
`_latest`, locks) go through conditional writes: boto3 `IfNoneMatch="*"` / `IfMatch=<etag>` on S3,
exclusive create and atomic rename under a lock file locally. URIs are plain local paths,
`file:///absolute/path` (RFC 8089; the same folder as `/absolute/path`) or `s3://bucket/key`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from augment_jobs.errors import AugmentError, ConfigError, StorageError


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int
    etag: str


def join(uri: str, *parts: str) -> str:
    """Join URI parts with '/' (local paths and s3:// alike)."""
    out = uri.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def is_file_uri(uri: str) -> bool:
    """Whether `uri` uses the `file:` scheme (any case)."""
    return uri[:5].lower() == "file:"


def local_path_of(uri: str) -> str:
    """The filesystem path a local URI names: a plain path as it is; `file:///abs/path`,
    `file://localhost/abs/path` and `file:/abs/path` as `/abs/path` (percent-escapes decoded).

    A `file:` URI with a relative path or another host (`file://tmp/x`, `file:x`) is a ConfigError:
    `file://tmp/x` would otherwise silently mean the host `tmp`, or a folder named `file:`.
    """
    if not is_file_uri(uri):
        return uri
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ConfigError(
            f"{uri}: a file: URI needs an absolute path, e.g. file:///data/lake (three slashes); "
            "use an absolute path"
        )
    return unquote(parts.path)


def relpath(uri: str, base: str) -> str:
    base = base.rstrip("/") + "/"
    if not uri.startswith(base):
        raise ValueError(f"{uri} is not under {base}")
    return uri[len(base):]


class Store(ABC):
    """The operations the platform needs from object storage."""

    @abstractmethod
    def read_bytes(self, uri: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write (or replace) an object atomically: readers see the old or the new bytes."""

    @abstractmethod
    def put_if_absent(self, uri: str, data: bytes) -> bool:
        """Create the object only if it does not exist; False if it did."""

    @abstractmethod
    def read_versioned(self, uri: str) -> tuple[bytes | None, str | None]:
        """(bytes, token) for compare-and-swap; (None, None) if absent."""

    @abstractmethod
    def replace_if(self, uri: str, data: bytes, token: str | None) -> bool:
        """Write only if the object still has `token` (None: only if absent). False on conflict."""

    @abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object below `prefix` (recursive), sorted by URI."""

    @abstractmethod
    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the immediate sub-folders of `prefix`."""

    @abstractmethod
    def delete(self, uri: str) -> None: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None: ...

    @abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Move one object (rename locally, copy + delete on S3)."""

    @abstractmethod
    def arrow_fs(self) -> tuple[Any, str]:
        """(pyarrow FileSystem, path prefix): `prefix + path_of(uri)` for pyarrow calls."""

    @abstractmethod
    def arrow_path(self, uri: str) -> str:
        """The path pyarrow's filesystem uses for `uri`."""

    @abstractmethod
    def local_path(self, uri: str) -> str | None:
        """A local filesystem path for `uri`, when the store is local."""

    # --- shared helpers -------------------------------------------------------------------------
    def read_json(self, uri: str) -> Any:
        return json.loads(self.read_bytes(uri))

    def write_json(self, uri: str, obj: Any) -> None:
        self.write_bytes(uri, dumps(obj))

    def sha256(self, uri: str) -> str:
        return self.digest(uri)[0]

    def open_digesting(self, uri: str) -> DigestingStream:
        """An output stream to `uri` (parent folders made on a local store) that hashes what it
        writes: a staged file's (sha256, size) known when it is closed, without reading it back."""
        local = self.local_path(uri)
        if local is not None:
            os.makedirs(os.path.dirname(local), exist_ok=True)
        return DigestingStream(self.arrow_fs()[0].open_output_stream(self.arrow_path(uri)))

    @contextlib.contextmanager
    def writing(self, uri: str) -> Iterator[Any]:
        """A binary stream to `uri` for an object too big to build in memory first; like
        `write_bytes`, readers see it whole or not at all (a failed write leaves no object)."""
        out = self.arrow_fs()[0].open_output_stream(self.arrow_path(uri))
        try:
            yield out
        except BaseException:
            out.close()  # S3 completes the upload on close: remove what it made
            with contextlib.suppress(FileNotFoundError, StorageError):
                self.delete(uri)
            raise
        out.close()

    def digest(self, uri: str) -> tuple[str, int]:
        """(sha256 hex, size in bytes) of an object, in one streaming pass."""
        fs = self.arrow_fs()[0]
        h = hashlib.sha256()
        size = 0
        with fs.open_input_stream(self.arrow_path(uri)) as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size

    @contextlib.contextmanager
    def lease(self, uri: str, *, ttl: float = 120.0, wait: float = 3600.0, poll: float = 0.5) -> Iterator[None]:
        """An exclusive lease held in the object `uri`, renewed every ttl/3 while held.

        A lease whose holder is gone (not renewed within `ttl`, or a dead process on this host) is
        taken over, so a run killed while holding it blocks nobody for long.
        """
        me = {"owner": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        deadline = time.monotonic() + wait
        while True:
            body = dumps({**me, "expires_at": time.time() + ttl})
            if self.put_if_absent(uri, body):
                break
            current, token = self.read_versioned(uri)
            if current is not None and _lease_is_stale(current) and self.replace_if(uri, body, token):
                break
            if time.monotonic() > deadline:
                raise StorageError(f"{uri}: lock still held after {wait:.0f}s; if no run is active, delete it")
            time.sleep(poll)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ttl / 3):
                with contextlib.suppress(AugmentError, OSError, ValueError):
                    current, token = self.read_versioned(uri)
                    if current is None or json.loads(current).get("owner") != me["owner"]:
                        return  # taken over after a stall: nothing of ours to renew
                    self.replace_if(uri, dumps({**me, "expires_at": time.time() + ttl}), token)

        heartbeat = threading.Thread(target=renew, daemon=True, name=f"lease-{uri.rsplit('/', 1)[-1]}")
        heartbeat.start()
        try:
            yield
        finally:
            stop.set()
            heartbeat.join()
            current, token = self.read_versioned(uri)
            if current is not None and json.loads(current).get("owner") == me["owner"]:
                with contextlib.suppress(AugmentError):
                    self.delete(uri)


class DigestingStream:
    """A writable stream (pyarrow's, or any with write/flush/close) that feeds sha256 on the way."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.size, self.closed = raw, 0, False
        self._hash = hashlib.sha256()

    def write(self, data: Any) -> int:
        self._hash.update(data)  # releases the GIL for large buffers
        self.size += memoryview(data).nbytes
        return self.raw.write(data)

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        if not self.closed:
            self.raw.close()
            self.closed = True

    def __enter__(self) -> DigestingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def digest(self) -> dict[str, Any]:
        """`{"sha256": hex, "bytes": size}` of what was written, as the manifest lists a file."""
        return {"sha256": self._hash.hexdigest(), "bytes": self.size}


def _lease_is_stale(body: bytes) -> bool:
    try:
        lease = json.loads(body)
    except ValueError:
        return True
    if time.time() > float(lease.get("expires_at", 0)):
        return True
    if lease.get("host") == socket.gethostname():
        try:
            os.kill(int(lease["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError):
            return False
    return False


def dumps(obj: Any, *, sort_keys: bool = True) -> bytes:
    """Canonical JSON bytes (indented, trailing newline; keys sorted unless the caller's order matters,
    as in the manifest and gate report, which lead with their verdict)."""
    return (json.dumps(obj, indent=2, sort_keys=sort_keys, default=str) + "\n").encode()


# --- local folder ------------------------------------------------------------------------------
class LocalStore(Store):
    """A folder on local disk. Atomic writes by temp file + rename; CAS under an flock.

    URIs are plain paths or `file:` URIs; listings answer in the form they were asked in, so
    `relpath(listed, prefix)` works for both.
    """

    def _p(self, uri: str) -> Path:
        return Path(local_path_of(uri))

    @staticmethod
    def _uri_of(path: Path, prefix: str, root: Path) -> str:
        """The URI of `path` (found under `root`, the folder or file `prefix` names) in `prefix`'s form."""
        if not is_file_uri(prefix):
            return str(path)
        if path == root:
            return prefix
        return prefix.rstrip("/") + "/" + quote(path.relative_to(root).as_posix())

    def read_bytes(self, uri: str) -> bytes:
        try:
            return self._p(uri).read_bytes()
        except FileNotFoundError:
            raise
        except OSError as e:
            raise StorageError(f"{uri}: cannot read ({e.strerror})", retryable=False) from e

    def _write_tmp(self, uri: str, data: bytes) -> Path:
        """Write `data` durably to a temp file beside `uri`; the caller links or renames it."""
        p = self._p(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    def write_bytes(self, uri: str, data: bytes) -> None:
        try:
            os.replace(self._write_tmp(uri, data), self._p(uri))
        except OSError as e:
            raise StorageError(f"{uri}: cannot write ({e.strerror}); check the path is writable", retryable=False) from e

    @contextlib.contextmanager
    def writing(self, uri: str) -> Iterator[Any]:
        p = self._p(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)

    def put_if_absent(self, uri: str, data: bytes) -> bool:
        try:
            tmp = self._write_tmp(uri, data)
            try:
                os.link(tmp, self._p(uri))  # atomic and exclusive: fails if it exists; complete on appearance
                return True
            except FileExistsError:
                return False
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as e:
            raise StorageError(f"{uri}: cannot write ({e.strerror}); check the path is writable", retryable=False) from e

    @contextlib.contextmanager
    def _cas_lock(self, uri: str) -> Iterator[None]:
        p = self._p(uri)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p.with_name(f".{p.name}.cas"), "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def read_versioned(self, uri: str) -> tuple[bytes | None, str | None]:
        try:
            data = self._p(uri).read_bytes()
        except FileNotFoundError:
            return None, None
        return data, hashlib.md5(data).hexdigest()

    def replace_if(self, uri: str, data: bytes, token: str | None) -> bool:
        with self._cas_lock(uri):
            _, current = self.read_versioned(uri)
            if current != token:
                return False
            self.write_bytes(uri, data)
            return True

    def exists(self, uri: str) -> bool:
        return self._p(uri).exists()

    def list(self, prefix: str) -> list[ObjectInfo]:
        root = self._p(prefix)
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
        else:
            return []
        return sorted(
            (ObjectInfo(self._uri_of(p, prefix, root), p.stat().st_size, _md5_file(p)) for p in files), key=lambda o: o.uri
        )

    def list_dirs(self, prefix: str) -> list[str]:
        root = self._p(prefix)
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    def delete(self, uri: str) -> None:
        self._p(uri).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._p(prefix), ignore_errors=True)

    def move(self, src: str, dst: str) -> None:
        self._p(dst).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._p(src), self._p(dst))

    def arrow_fs(self) -> tuple[Any, str]:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem(), ""

    def arrow_path(self, uri: str) -> str:
        return str(self._p(uri))

    def local_path(self, uri: str) -> str | None:
        return str(self._p(uri))


def _md5_file(p: Path) -> str:
    h = hashlib.md5()
    with open(p, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


# --- S3 ----------------------------------------------------------------------------------------
def _split(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://"):]
    bucket, _, key = rest.partition("/")
    return bucket, key


class S3Store(Store):
    """S3 or any S3-compatible store; endpoint from AWS_ENDPOINT_URL, credentials from the AWS chain."""

    def __init__(self) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, config=Config(retries={"max_attempts": 5, "mode": "standard"})
        )
        self._fs: Any = None

    def _call(self, uri: str, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(uri) from e
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise _Conflict() from e
            if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
                raise StorageError(f"{uri}: {code}; check the bucket exists and the credentials may write it", retryable=False) from e
            raise StorageError(f"{uri}: S3 error {code}: {e}") from e
        except BotoCoreError as e:
            raise StorageError(f"{uri}: S3 unreachable ({e}); check AWS_ENDPOINT_URL") from e

    def read_bytes(self, uri: str) -> bytes:
        b, k = _split(uri)
        return self._call(uri, self.client.get_object, Bucket=b, Key=k)["Body"].read()

    def write_bytes(self, uri: str, data: bytes) -> None:
        b, k = _split(uri)
        self._call(uri, self.client.put_object, Bucket=b, Key=k, Body=data)

    def put_if_absent(self, uri: str, data: bytes) -> bool:
        b, k = _split(uri)
        try:
            self._call(uri, self.client.put_object, Bucket=b, Key=k, Body=data, IfNoneMatch="*")
            return True
        except _Conflict:
            return False

    def read_versioned(self, uri: str) -> tuple[bytes | None, str | None]:
        b, k = _split(uri)
        try:
            r = self._call(uri, self.client.get_object, Bucket=b, Key=k)
        except FileNotFoundError:
            return None, None
        return r["Body"].read(), r["ETag"]

    def replace_if(self, uri: str, data: bytes, token: str | None) -> bool:
        b, k = _split(uri)
        cond = {"IfMatch": token} if token else {"IfNoneMatch": "*"}
        try:
            self._call(uri, self.client.put_object, Bucket=b, Key=k, Body=data, **cond)
            return True
        except (_Conflict, FileNotFoundError):
            return False

    def exists(self, uri: str) -> bool:
        b, k = _split(uri)
        try:
            self._call(uri, self.client.head_object, Bucket=b, Key=k)
            return True
        except FileNotFoundError:
            return False

    def list(self, prefix: str) -> list[ObjectInfo]:
        b, k = _split(prefix)
        out = []
        for page in self._call(prefix, self.client.get_paginator("list_objects_v2").paginate, Bucket=b, Prefix=k):
            for obj in page.get("Contents", []):
                out.append(ObjectInfo(f"s3://{b}/{obj['Key']}", obj["Size"], obj["ETag"].strip('"')))
        return sorted(out, key=lambda o: o.uri)

    def list_dirs(self, prefix: str) -> list[str]:
        b, k = _split(prefix.rstrip("/") + "/")
        names = []
        for page in self._call(prefix, self.client.get_paginator("list_objects_v2").paginate, Bucket=b, Prefix=k, Delimiter="/"):
            names += [p["Prefix"][len(k):].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return sorted(names)

    def delete(self, uri: str) -> None:
        b, k = _split(uri)
        self._call(uri, self.client.delete_object, Bucket=b, Key=k)

    def delete_prefix(self, prefix: str) -> None:
        b, _ = _split(prefix)
        objs = self.list(prefix.rstrip("/") + "/")
        for i in range(0, len(objs), 1000):
            keys = [{"Key": _split(o.uri)[1]} for o in objs[i:i + 1000]]
            self._call(prefix, self.client.delete_objects, Bucket=b, Delete={"Objects": keys, "Quiet": True})

    def move(self, src: str, dst: str) -> None:
        sb, sk = _split(src)
        db, dk = _split(dst)
        self._call(dst, self.client.copy, CopySource={"Bucket": sb, "Key": sk}, Bucket=db, Key=dk)
        self.delete(src)

    def arrow_fs(self) -> tuple[Any, str]:
        if self._fs is None:
            import pyarrow.fs as pafs

            kw: dict[str, Any] = {}
            if self.endpoint:
                scheme, _, host = self.endpoint.partition("://")
                kw = {"endpoint_override": host, "scheme": scheme}
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            if region:
                kw["region"] = region
            self._fs = pafs.S3FileSystem(**kw)
        return self._fs, ""

    def arrow_path(self, uri: str) -> str:
        return uri[len("s3://"):]

    def local_path(self, uri: str) -> str | None:
        return None


class _Conflict(Exception):
    pass


_STORES: dict[str, Store] = {}


def store_for(uri: str) -> Store:
    """The store that serves `uri` (cached per kind)."""
    if uri.startswith("s3://"):
        kind = "s3"
    elif is_file_uri(uri):
        local_path_of(uri)  # a relative or remote-host file: URI fails here, before anything is written
        kind = "local"
    elif "://" in uri:
        raise StorageError(
            f"{uri}: unsupported scheme; use a local path, file:///absolute/path or s3://bucket/prefix", retryable=False
        )
    else:
        kind = "local"
    if kind not in _STORES:
        _STORES[kind] = S3Store() if kind == "s3" else LocalStore()
    return _STORES[kind]


def reset_stores() -> None:
    """Forget cached clients (after the environment changed, e.g. in tests)."""
    _STORES.clear()


__all__ = [
    "ObjectInfo", "Store", "LocalStore", "S3Store", "store_for", "join", "relpath", "dumps", "is_file_uri", "local_path_of",
]
