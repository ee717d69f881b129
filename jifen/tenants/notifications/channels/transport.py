"""POST JSON to a provider endpoint; map what comes back to sent / retryable / permanent."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from jifen.tenants.notifications.channels import Permanent, Retryable

RETRYABLE_STATUS = {408, 425, 429}


def post_json(url: str, payload: dict, *, token: str | None, idempotency_key: str, timeout: float) -> dict:
    """The decoded JSON answer of a 2xx response ({} if it had none). Timeouts, connection
    failures, 5xx and 408/425/429 raise `Retryable`; other 4xx raise `Permanent`."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": idempotency_key,
               "User-Agent": "jifen-notifications/1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured endpoint
            raw = response.read()
    except urllib.error.HTTPError as e:
        detail = _snippet(e.read() if e.fp else b"")
        if e.code >= 500 or e.code in RETRYABLE_STATUS:
            raise Retryable(f"HTTP {e.code} {detail}".strip()) from None
        raise Permanent(f"HTTP {e.code} {detail}".strip()) from None
    except (TimeoutError, socket.timeout):
        raise Retryable(f"timed out after {timeout:g} s") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise Retryable(f"timed out after {timeout:g} s") from None
        raise Retryable(f"cannot reach the endpoint: {reason}") from None
    except (ConnectionError, OSError) as e:
        raise Retryable(f"connection failed: {e}") from None
    if not raw.strip():
        return {}
    try:
        answer = json.loads(raw)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _snippet(raw: bytes) -> str:
    return raw[:200].decode("utf-8", "replace").strip()
