"""S3 (or any S3-compatible endpoint) behind the :class:`~engine.store.objects.Store` interface.

Imported by ``engine.store.objects.open_store`` only when ``BACKTEST_STORAGE_ROOT`` is unset, so
local runs never pay for importing s3fs/aiobotocore. s3fs and botocore errors become the project's
errors: a missing bucket or key -> NotFoundError, access denied -> InfraError, an endpoint that
cannot be reached or missing credentials -> StorageUnreachable (an InfraError).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from engine.errors import InfraError, NotFoundError, ParamError
from engine.store.objects import (
    Infos,
    Names,
    ObjectInfo,
    StorageUnreachable,
    Store,
    check_delimiter,
    validate_bucket,
    validate_key,
)


class S3Store(Store):
    """S3 (or any S3-compatible endpoint) through an s3fs filesystem created by ``open_store``."""

    def __init__(self, fs: Any, endpoint: str | None = None, region: str | None = None) -> None:
        self.fs = fs
        self.endpoint = endpoint
        self.region = region

    def describe(self) -> str:
        """Which S3 endpoint."""
        return f"S3 (endpoint {self.endpoint or 'AWS default'})"

    @contextmanager
    def _errors(self, bucket: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except (NotFoundError, ParamError):
            raise
        except Exception as exc:
            raise self._translate(exc, bucket, key) from exc

    def _translate(self, exc: Exception, bucket: str, key: str | None) -> Exception:
        import botocore.exceptions as bex

        where = self.uri(bucket, key or "")
        if isinstance(exc, FileNotFoundError):
            code = _error_code(exc)
            if (
                key is None
                or code == "NoSuchBucket"
                or (code != "NoSuchKey" and not self.bucket_exists(bucket))
            ):
                return NotFoundError(f"bucket {bucket!r} does not exist")
            return NotFoundError(f"no key {key!r} in bucket {bucket!r}")
        if isinstance(exc, PermissionError):
            return InfraError(f"access denied to {where} ({self.describe()}): {exc}")
        if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
            return StorageUnreachable(
                f"no AWS credentials for {self.describe()}: set AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY or an AWS profile"
            )
        from_server = isinstance(getattr(exc, "__cause__", None), bex.ClientError)
        if isinstance(exc, bex.ConnectionError | bex.HTTPClientError | TimeoutError) or (
            isinstance(exc, OSError) and not from_server
        ):
            return StorageUnreachable(
                f"cannot reach S3 at {self.endpoint or 'the AWS default endpoint'}: {exc}"
            )
        return InfraError(f"S3 error on {where}: {type(exc).__name__}: {exc}")

    def _invalidate(self, bucket: str, key: str = "") -> None:
        self.fs.invalidate_cache(f"{bucket}/{key}".rstrip("/"))

    def get_bytes(self, bucket: str, key: str) -> bytes:
        """The object's bytes."""
        validate_bucket(bucket)
        validate_key(key)
        with self._errors(bucket, key):
            return bytes(self.fs.cat_file(f"{bucket}/{key}"))

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        """One PUT (atomic per object on S3)."""
        validate_bucket(bucket)
        validate_key(key)
        with self._errors(bucket):
            self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=bytes(data))
        self._invalidate(bucket, key)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """HEAD the object: size, LastModified and ETag."""
        validate_bucket(bucket)
        validate_key(key)
        with self._errors(bucket, key):
            out = self.fs.call_s3("head_object", Bucket=bucket, Key=key)
        etag = out.get("ETag")
        return ObjectInfo(
            bucket,
            key,
            int(out.get("ContentLength", 0)),
            out.get("LastModified"),
            etag.strip('"') if etag else None,
        )

    def _list_pages(self, bucket: str, prefix: str, delimiter: str | None) -> tuple[Infos, Names]:
        validate_bucket(bucket)
        validate_key(prefix, prefix=True)
        check_delimiter(delimiter)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        objects: list[ObjectInfo] = []
        dirs: list[str] = []
        with self._errors(bucket):
            while True:
                page = self.fs.call_s3("list_objects_v2", **kwargs)
                for item in page.get("Contents", []):
                    etag = item.get("ETag")
                    objects.append(
                        ObjectInfo(
                            bucket,
                            item["Key"],
                            int(item.get("Size", 0)),
                            item.get("LastModified"),
                            etag.strip('"') if etag else None,
                        )
                    )
                dirs.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
                if not page.get("IsTruncated"):
                    break
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        return sorted(objects, key=lambda o: o.key), sorted(dirs)

    def list(self, bucket: str, prefix: str = "", delimiter: str | None = None) -> Infos:
        """Objects under ``prefix`` (paginated ListObjectsV2, never cached)."""
        return self._list_pages(bucket, prefix, delimiter)[0]

    def list_dirs(self, bucket: str, prefix: str = "") -> Names:
        """Common prefixes directly under ``prefix``."""
        return self._list_pages(bucket, prefix, "/")[1]

    def delete(self, bucket: str, key: str) -> None:
        """DELETE one object (S3 treats a missing key as success)."""
        validate_bucket(bucket)
        validate_key(key)
        with self._errors(bucket):
            self.fs.call_s3("delete_object", Bucket=bucket, Key=key)
        self._invalidate(bucket, key)

    def bucket_exists(self, bucket: str) -> bool:
        """HEAD the bucket."""
        validate_bucket(bucket)
        try:
            self.fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._translate(exc, bucket, "") from exc
        return True

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket if missing (in the client's region)."""
        if self.bucket_exists(bucket):
            return
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with self._errors(bucket):
            self.fs.call_s3("create_bucket", **kwargs)
        self._invalidate(bucket)


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an s3fs-translated exception, if any."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def s3_endpoint(env: Mapping[str, str]) -> str | None:
    """``AWS_ENDPOINT_URL_S3`` else ``AWS_ENDPOINT_URL`` else None (AWS itself)."""
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


def aws_region(env: Mapping[str, str]) -> str | None:
    """AWS_REGION else AWS_DEFAULT_REGION else None (botocore's own lookup)."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


def _number_env(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        raise ParamError(f"{name} must be a number, got {env.get(name)!r}") from None
    if not value > 0:
        raise ParamError(f"{name} must be > 0, got {env.get(name)!r}")
    return value


def make_s3fs(env: Mapping[str, str]) -> Any:
    """A fresh s3fs filesystem (no instance or listings cache) configured from ``env``.

    Retries follow ``AWS_MAX_ATTEMPTS`` (default 3) and ``AWS_RETRY_MODE`` (default standard);
    ``BACKTEST_S3_CONNECT_TIMEOUT`` (seconds, default 5) bounds each connection attempt.
    """
    import s3fs

    attempts = int(_number_env(env, "AWS_MAX_ATTEMPTS", 3))
    client_kwargs: dict[str, Any] = {}
    region = aws_region(env)
    if region:
        client_kwargs["region_name"] = region
    credentials: dict[str, Any] = {}
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        credentials = {
            "key": env["AWS_ACCESS_KEY_ID"],
            "secret": env["AWS_SECRET_ACCESS_KEY"],
            "token": env.get("AWS_SESSION_TOKEN") or None,
        }
    fs = s3fs.S3FileSystem(
        endpoint_url=s3_endpoint(env),
        client_kwargs=client_kwargs,
        config_kwargs={
            "connect_timeout": _number_env(env, "BACKTEST_S3_CONNECT_TIMEOUT", 5),
            "read_timeout": 60,
            "retries": {"max_attempts": attempts, "mode": env.get("AWS_RETRY_MODE", "standard")},
        },
        skip_instance_cache=True,
        use_listings_cache=False,
        **credentials,
    )
    fs.retries = attempts  # s3fs's own retry loop (timeouts) follows the same budget
    return fs
