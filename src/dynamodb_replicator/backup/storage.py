"""Where backup bytes live: an S3 prefix or a local folder, behind one small protocol.

Writes stream: an :class:`ObjectWriter` takes chunks and keeps at most one part in memory.
On S3 a small object is one ``PutObject``; a larger one is a multipart upload whose part size
grows with the data (8 MiB for the first 1,000 parts, then doubling every 1,000), so an object
of any size stays within S3's 10,000 parts; a failed or abandoned upload is aborted. In a folder
the object is written under a temporary name and renamed when complete, so a reader never sees
half an object under its final name.

Reads stream too, in chunks; an S3 read that breaks mid-object resumes with a ranged GET from
the byte it reached, with bounded backoff.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError

from ..dynamo import Backoff, S3Client, s3_client
from ..dynamo.aws import BotoError, Outcome, aws_errors, expected, raising
from ..errors import AwsError, BackupError, ConfigError, aws_error_code
from ..fsutil import replace_durably
from .layout import Location

__all__ = [
    "MIN_PART",
    "FolderStorage",
    "ObjectWriter",
    "S3Storage",
    "Storage",
    "StorageSpec",
    "part_size_for",
]

log = logging.getLogger(__name__)

MIN_PART = 8 * 1024 * 1024
MAX_PART = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
_PARTS_PER_STEP = 1_000
READ_CHUNK = 1024 * 1024

#: S3's answers for a bucket that cannot be used (a configuration error, exit 2).
_BUCKET_CODES = ("NoSuchBucket", "AccessDenied", "AllAccessDisabled")
#: S3's answers to HeadObject for an object that does not exist.
_MISSING_CODES = ("404", "NoSuchKey", "NotFound")


def part_size_for(part_number: int, base: int = MIN_PART) -> int:
    """The size of part ``part_number`` (1-based): ``base``, doubling every 1,000 parts.

    10,000 parts of this schedule hold over 8 TB with the default base, more than S3's 5 TB
    object limit, so a streamed object of unknown size never runs out of parts.
    """
    return int(min(MAX_PART, base * 2 ** ((part_number - 1) // _PARTS_PER_STEP)))


class ObjectWriter(Protocol):
    """A streamed object being written: ``write`` chunks, then ``commit`` (or ``abort``)."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> int:
        """Finish the object; returns its size in bytes."""
        ...

    def abort(self) -> None:
        """Drop everything written; the object does not appear."""
        ...


class Storage(Protocol):
    """A job's storage, rooted at the job's location; names are relative (``"0"``, ``"_started"``)."""

    location: Location

    def check(self) -> None:
        """A :class:`ConfigError` when the bucket or folder cannot be used (exit 2)."""
        ...

    def put(self, name: str, data: bytes) -> None:
        """Write a small object in one go."""
        ...

    def writer(self, name: str) -> ObjectWriter: ...

    def get(self, name: str) -> bytes:
        """A small object's bytes (missing: :class:`BackupError`)."""
        ...

    def read(self, name: str, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """An object's bytes in chunks, streamed."""
        ...

    def size(self, name: str) -> int | None:
        """An object's size, ``None`` when it does not exist."""
        ...

    def listing(self) -> dict[str, int]:
        """Every object directly under the root: name -> size."""
        ...


# --- local folder -----------------------------------------------------------------------------


class _FileWriter:
    def __init__(self, path: Path):
        self.path = path
        self.temp = path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.temp, "wb")  # noqa: SIM115 - closed in commit/abort
        self.written = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.written += len(data)

    def commit(self) -> int:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        replace_durably(self.temp, self.path)
        return self.written

    def abort(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


class FolderStorage:
    """A job in a local folder; the same names as on S3."""

    def __init__(self, location: Location):
        self.location = location
        self.root = Path(location.prefix)

    def check(self) -> None:
        for parent in (self.root, *self.root.parents):
            if parent.exists():
                if not parent.is_dir() or not os.access(parent, os.W_OK):
                    raise ConfigError(
                        f"{parent} is not a writable folder",
                        hint="choose a folder you can write to",
                    )
                return

    def _path(self, name: str) -> Path:
        return self.root / name

    def put(self, name: str, data: bytes) -> None:
        writer = self.writer(name)
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def writer(self, name: str) -> ObjectWriter:
        try:
            return _FileWriter(self._path(name))
        except OSError as exc:
            raise BackupError(f"cannot write {self._path(name)}: {exc}", cause=exc) from exc

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except OSError as exc:
            raise BackupError(f"cannot read {self._path(name)}: {exc}", cause=exc) from exc

    def read(self, name: str, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        try:
            with open(self._path(name), "rb") as file:
                while chunk := file.read(chunk_size):
                    yield chunk
        except OSError as exc:
            raise BackupError(f"cannot read {self._path(name)}: {exc}", cause=exc) from exc

    def size(self, name: str) -> int | None:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else None

    def listing(self) -> dict[str, int]:
        if not self.root.is_dir():
            return {}
        return {
            p.name: p.stat().st_size
            for p in self.root.iterdir()
            if p.is_file() and not p.name.startswith(".")
        }


# --- S3 ---------------------------------------------------------------------------------------


class _MultipartWriter:
    """Streams to S3: one PutObject when small, else a multipart upload with growing parts."""

    def __init__(self, storage: S3Storage, key: str, part_base: int):
        self.storage = storage
        self.key = key
        self.part_base = part_base
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.size = 0

    def _next_part_size(self) -> int:
        return part_size_for(len(self.parts) + 1, self.part_base)

    def write(self, data: bytes) -> None:
        self.buffer += data
        self.size += len(data)
        while len(self.buffer) >= self._next_part_size():
            cut = self._next_part_size()
            part = bytes(self.buffer[:cut])
            del self.buffer[:cut]
            self._upload_part(part)

    def _upload_part(self, data: bytes) -> None:
        s3 = self.storage
        if self.upload_id is None:
            response = s3.call(
                "CreateMultipartUpload", s3.client.create_multipart_upload, **s3.put_args(self.key)
            )
            self.upload_id = str(response["UploadId"])
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise BackupError(f"{s3.location.url(self.key)}: more than {MAX_PARTS} parts")
        response = s3.call(
            f"UploadPart {number}",
            s3.client.upload_part,
            Bucket=s3.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def commit(self) -> int:
        s3 = self.storage
        if self.upload_id is None:
            s3.call(
                "PutObject",
                s3.client.put_object,
                Body=bytes(self.buffer),
                **s3.put_args(self.key),
            )
        else:
            if self.buffer or not self.parts:
                self._upload_part(bytes(self.buffer))
            s3.call(
                "CompleteMultipartUpload",
                s3.client.complete_multipart_upload,
                Bucket=s3.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )
        self.buffer = bytearray()
        return self.size

    def abort(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is None:
            return
        s3 = self.storage
        with aws_errors("AbortMultipartUpload", otherwise=expected) as failed:
            s3.client.abort_multipart_upload(
                Bucket=s3.bucket, Key=self.key, UploadId=self.upload_id
            )
        if failed:
            log.warning(
                "could not abort the upload of %s (id %s): %s; a bucket lifecycle rule "
                "(AbortIncompleteMultipartUpload) will clean it up",
                s3.location.url(self.key),
                self.upload_id,
                failed.error,
            )
        self.upload_id = None


class S3Storage:
    """A job under an S3 prefix."""

    def __init__(
        self,
        location: Location,
        client: S3Client,
        *,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        part_base: int = MIN_PART,
        backoff: Backoff = Backoff(max_attempts=5, base=0.2),
    ):
        assert location.bucket is not None
        self.location = location
        self.bucket = location.bucket
        self.client = client
        self.sse = sse
        self.sse_kms_key_id = sse_kms_key_id
        self.part_base = part_base
        self.backoff = backoff

    def key(self, name: str) -> str:
        return f"{self.location.prefix}/{name}" if self.location.prefix else name

    def call(self, what: str, fn: Any, /, **kwargs: Any) -> Any:
        bucket_unusable: dict[str, Outcome] = {
            code: raising(
                ConfigError,
                f"{what} on s3://{self.bucket}: {code}",
                hint="check the bucket name, its region, the S3 endpoint and permissions",
            )
            for code in _BUCKET_CODES
        }
        with aws_errors(f"{what} on {self.location.url()}", codes=bucket_unusable):
            response = fn(**kwargs)
        return response

    def put_args(self, key: str) -> dict[str, Any]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if self.sse:
            args["ServerSideEncryption"] = self.sse
        if self.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        return args

    def check(self) -> None:
        def unusable(exc: BotoError) -> ConfigError:
            return ConfigError(
                f"bucket s3://{self.bucket} is not usable ({aws_error_code(exc) or exc})",
                hint="check the bucket name, the S3 endpoint (--s3-endpoint-url) and permissions",
            )

        with aws_errors(f"HeadBucket s3://{self.bucket}", otherwise=unusable):
            self.client.head_bucket(Bucket=self.bucket)

    def put(self, name: str, data: bytes) -> None:
        self.call("PutObject", self.client.put_object, Body=data, **self.put_args(self.key(name)))

    def writer(self, name: str) -> ObjectWriter:
        return _MultipartWriter(self, self.key(name), self.part_base)

    def get(self, name: str) -> bytes:
        return b"".join(self.read(name))

    def read(self, name: str, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        key = self.key(name)
        offset = 0
        budget = self.backoff.budget()
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
            if offset:
                args["Range"] = f"bytes={offset}-"
            body = self.call("GetObject", self.client.get_object, **args)["Body"]
            try:
                for chunk in body.iter_chunks(chunk_size):
                    offset += len(chunk)
                    yield chunk
                return
            # a retry loop resuming a broken read (and OSError is not botocore's): not a mapping
            except (BotoCoreError, OSError) as exc:
                if not budget.wait():
                    raise AwsError(
                        f"reading {self.location.url(name)} broke at byte {offset}: {exc}",
                        cause=exc,
                    ) from exc
                log.info("resuming %s at byte %d after: %s", key, offset, exc)
            finally:
                body.close()

    def size(self, name: str) -> int | None:
        missing_codes = dict.fromkeys(_MISSING_CODES, expected)
        with aws_errors(f"HeadObject {self.location.url(name)}", codes=missing_codes) as missing:
            response = self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        if missing:
            return None
        return int(response["ContentLength"])

    def listing(self) -> dict[str, int]:
        prefix = self.key("")
        found: dict[str, int] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        no_bucket = raising(
            ConfigError,
            f"bucket s3://{self.bucket} does not exist",
            hint="check the bucket name and the S3 endpoint (--s3-endpoint-url)",
        )
        with aws_errors(f"listing {self.location.url()}", codes={"NoSuchBucket": no_bucket}):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for entry in page.get("Contents", []):
                    found[entry["Key"][len(prefix) :]] = int(entry["Size"])
        return found


# --- picklable description --------------------------------------------------------------------


@dataclass(frozen=True)
class StorageSpec:
    """How to reach a job's storage: picklable, so worker processes open their own."""

    location: Location
    s3_endpoint_url: str | None = None
    region: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    part_base: int = MIN_PART

    def open(self) -> Storage:
        """The storage this spec names (an S3 client is made here, in the calling process)."""
        if self.location.kind == "folder":
            return FolderStorage(self.location)
        client = s3_client(endpoint_url=self.s3_endpoint_url, region=self.region)
        return S3Storage(
            self.location,
            client,
            sse=self.sse,
            sse_kms_key_id=self.sse_kms_key_id,
            part_base=self.part_base,
        )

    def at(self, location: Location) -> StorageSpec:
        """The same settings for another location (a job below a prefix, an object's folder)."""
        return StorageSpec(
            location,
            self.s3_endpoint_url,
            self.region,
            self.sse,
            self.sse_kms_key_id,
            self.part_base,
        )
