"""A Store that forwards every call to a real store: tests subclass it to record or interfere
with some calls (a real store underneath, never a fake of our own code)."""

from __future__ import annotations

from engine.store.objects import Infos, Names, ObjectInfo, Store


class PassThroughStore(Store):
    """Every Store method, forwarded to ``inner`` unchanged."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return self.inner.get_bytes(bucket, key)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.inner.put_bytes(bucket, key, data)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        return self.inner.head(bucket, key)

    def list(self, bucket: str, prefix: str = "", delimiter: str | None = None) -> Infos:
        return self.inner.list(bucket, prefix, delimiter)

    def list_dirs(self, bucket: str, prefix: str = "") -> Names:
        return self.inner.list_dirs(bucket, prefix)

    def delete(self, bucket: str, key: str) -> None:
        self.inner.delete(bucket, key)

    def bucket_exists(self, bucket: str) -> bool:
        return self.inner.bucket_exists(bucket)

    def create_bucket(self, bucket: str) -> None:
        self.inner.create_bucket(bucket)

    def describe(self) -> str:
        return self.inner.describe()
