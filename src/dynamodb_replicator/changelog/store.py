"""The few storage operations a change log needs beyond the backup storage protocol.

A log spans folders (days, hours, heartbeats), while a backup :class:`Storage` is rooted at one
folder: these helpers open the same kind of storage at another location (sharing the S3
client), list sub-folders, and read an object that may not exist.
"""

from __future__ import annotations

from ..backup.layout import Location
from ..backup.storage import FolderStorage, S3Storage, Storage
from ..dynamo.aws import aws_errors
from ..errors import ChangeLogError

__all__ = ["get_optional", "storage_at", "subfolders", "walk"]


def storage_at(storage: Storage, location: Location) -> Storage:
    """Storage of the same kind and settings as ``storage``, rooted at ``location``."""
    if isinstance(storage, S3Storage):
        return S3Storage(
            location,
            storage.client,
            sse=storage.sse,
            sse_kms_key_id=storage.sse_kms_key_id,
            part_base=storage.part_base,
            backoff=storage.backoff,
        )
    if isinstance(storage, FolderStorage):
        return FolderStorage(location)
    raise ChangeLogError(f"unsupported storage {type(storage).__name__}")


def subfolders(storage: Storage) -> list[str]:
    """The names of the folders directly under ``storage``'s root, sorted."""
    if isinstance(storage, FolderStorage):
        if not storage.root.is_dir():
            return []
        return sorted(p.name for p in storage.root.iterdir() if p.is_dir())
    if isinstance(storage, S3Storage):
        prefix = storage.key("")
        names: list[str] = []
        paginator = storage.client.get_paginator("list_objects_v2")
        with aws_errors(f"listing {storage.location.url()}"):
            for page in paginator.paginate(Bucket=storage.bucket, Prefix=prefix, Delimiter="/"):
                for entry in page.get("CommonPrefixes", []):
                    names.append(entry["Prefix"][len(prefix) :].rstrip("/"))
        return sorted(names)
    raise ChangeLogError(f"unsupported storage {type(storage).__name__}")


def get_optional(storage: Storage, name: str) -> bytes | None:
    """An object's bytes, ``None`` when it does not exist."""
    if storage.size(name) is None:
        return None
    return storage.get(name)


def walk(storage: Storage) -> list[str]:
    """Every object at any depth under ``storage``'s root: names relative to it, sorted."""
    if isinstance(storage, FolderStorage):
        if not storage.root.is_dir():
            return []
        return sorted(
            str(p.relative_to(storage.root))
            for p in storage.root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
    if isinstance(storage, S3Storage):
        prefix = storage.key("")
        names: list[str] = []
        paginator = storage.client.get_paginator("list_objects_v2")
        with aws_errors(f"listing {storage.location.url()}"):
            for page in paginator.paginate(Bucket=storage.bucket, Prefix=prefix):
                names.extend(e["Key"][len(prefix) :] for e in page.get("Contents", []))
        return sorted(names)
    raise ChangeLogError(f"unsupported storage {type(storage).__name__}")
