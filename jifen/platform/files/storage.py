"""Where an upload's bytes live: in its `stored_files` row (`db`, the embedded default) or in an
S3-compatible bucket (`JIFEN_FILE_STORE=s3`: AWS S3, MinIO, Alibaba OSS, Tencent COS...).

Invariants:
- Reading follows the ROW, not the setting: a row with `storage_key` is read from the bucket, a row
  with `data` from the database. Switching the setting never strands a file; `jifen files
  move-to-store` moves the old ones into the bucket when wanted.
- A sealed kind (a roster: ID numbers) is sealed before its bytes leave the process, wherever they go.
- The object is written BEFORE its row is flushed. A write that fails raises `Unavailable` (503)
  and no row is written. A transaction that rolls back after the write leaves an object with no
  row: the daily `jifen.sweep_file_objects` deletes a township's objects older than `ORPHAN_AGE`
  that no row names (younger ones may belong to a request still running).
- Keys are `<JIFEN_S3_PREFIX><tenant id>/<file id>`: one township's objects are one prefix, which
  offboarding deletes with its rows. An object is never rewritten with other content under the
  same key (the file id names one content), except re-sealing the same bytes with a newer key.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _

from jifen.platform import clock
from jifen.platform.errors import NotFound, Unavailable

ORPHAN_AGE = timedelta(days=1)  # longer than any request or job that writes an object before its commit


def s3_enabled() -> bool:
    """New uploads go to the bucket."""
    return current_app.config["FILE_STORE"] == "s3"


def configured() -> bool:
    """A bucket is configured (rows stored there can be read, whatever the setting for new ones)."""
    return bool(current_app.config.get("S3_BUCKET"))


def _client():
    """One boto3 client per app (thread-safe; it holds the connection pool)."""
    client = current_app.extensions.get("s3_client")
    if client is None:
        import boto3
        from botocore.config import Config

        cfg = current_app.config
        client = boto3.session.Session().client(
            "s3", endpoint_url=cfg.get("S3_ENDPOINT_URL") or None, region_name=cfg.get("S3_REGION") or None,
            aws_access_key_id=cfg.get("S3_ACCESS_KEY_ID") or None,
            aws_secret_access_key=cfg.get("S3_SECRET_ACCESS_KEY") or None,
            config=Config(connect_timeout=cfg["S3_CONNECT_TIMEOUT"], read_timeout=cfg["S3_READ_TIMEOUT"],
                          retries={"max_attempts": 2, "mode": "standard"}, signature_version="s3v4",
                          s3={"addressing_style": cfg["S3_ADDRESSING_STYLE"]}))
        current_app.extensions["s3_client"] = client
    return client


def _bucket() -> str:
    bucket = current_app.config.get("S3_BUCKET")
    if not bucket:
        current_app.logger.error("a stored file is in object storage, but JIFEN_S3_BUCKET is not set")
        raise Unavailable(_("File storage is not available right now. Try again later."))
    return bucket


def _errors():
    from botocore.exceptions import BotoCoreError, ClientError

    return BotoCoreError, ClientError


def tenant_prefix(tenant_id) -> str:
    return f"{current_app.config['S3_PREFIX']}{tenant_id}/"


def key_for(tenant_id, file_id) -> str:
    """The object key of a file (ids as UUIDs, whatever form a raw query returned them in)."""
    return f"{tenant_prefix(uuid.UUID(str(tenant_id)))}{uuid.UUID(str(file_id))}"


def _unavailable(what: str, key: str, exc: Exception) -> Unavailable:
    current_app.logger.error("file store: %s %s failed: %r", what, key, exc)
    return Unavailable(_("File storage is not available right now. Try again later."))


def put(key: str, data: bytes, content_type: str) -> None:
    """Write an object; `Unavailable` when the store can't be reached or refuses."""
    try:
        _client().put_object(Bucket=_bucket(), Key=key, Body=data, ContentType=content_type)
    except _errors() as exc:
        raise _unavailable("write", key, exc) from exc


def get(key: str) -> bytes:
    """An object's bytes. A key the bucket does not have is a lost file: logged, and 404."""
    BotoCoreError, ClientError = _errors()
    try:
        return _client().get_object(Bucket=_bucket(), Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            current_app.logger.error("file store: object %s is missing from bucket %s", key, _bucket())
            raise NotFound(_("Not found.")) from exc
        raise _unavailable("read", key, exc) from exc
    except BotoCoreError as exc:
        raise _unavailable("read", key, exc) from exc


def _objects(prefix: str):
    """(key, last modified) of every object under the prefix, page by page."""
    paginator = _client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=_bucket(), Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"], obj["LastModified"]


def _delete(keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        chunk = keys[start:start + 1000]
        answer = _client().delete_objects(Bucket=_bucket(), Delete={"Objects": [{"Key": k} for k in chunk],
                                                                    "Quiet": True})
        if answer.get("Errors"):
            raise RuntimeError(f"file store: {len(answer['Errors'])} object(s) not deleted, e.g. {answer['Errors'][0]}")


def delete_prefix(prefix: str) -> int:
    """Delete every object under the prefix (a township's, at offboarding); returns how many."""
    keys = [key for key, _modified in _objects(prefix)]
    _delete(keys)
    return len(keys)


def sweep_orphans(tenant_id, known) -> dict:
    """Delete the township's objects older than ORPHAN_AGE that no row names. `known(keys)` is the
    subset of the keys that rows name (the caller queries its own table)."""
    cutoff = clock.now() - ORPHAN_AGE
    old = [key for key, modified in _objects(tenant_prefix(tenant_id)) if modified < cutoff]
    orphans = []
    for start in range(0, len(old), 1000):
        chunk = old[start:start + 1000]
        named = set(known(chunk))
        orphans += [k for k in chunk if k not in named]
    _delete(orphans)
    if orphans:
        current_app.logger.info("file store: %d orphan object(s) of tenant %s deleted", len(orphans), tenant_id)
    return {"checked": len(old), "deleted": len(orphans)}
