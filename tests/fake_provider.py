"""A local fake SMS / WeChat gateway for the delivery tests: an http.server in a thread on
127.0.0.1 (random port) that records every request and can be told to fail the next N of them."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeProvider:
    """`fail(n, how)` scripts the next n answers: "500", "400", "timeout" (no answer before the
    client gives up), "wx-busy" (WeChat errcode -1), "wx-43004" (WeChat: not following)."""

    def __init__(self, hang: float = 2.5):
        self.requests: list[dict] = []
        self.script: list[str] = []
        self.hang = hang
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with provider.lock:
                    provider.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "json": json.loads(body or b"{}")})
                    n = len(provider.requests)
                    how = provider.script.pop(0) if provider.script else "ok"
                if how == "timeout":
                    time.sleep(provider.hang)
                    how = "ok"
                try:
                    if how == "500":
                        self._reply(500, {"error": "provider down"})
                    elif how == "400":
                        self._reply(400, {"error": "invalid number"})
                    elif how == "wx-busy":
                        self._reply(200, {"errcode": -1, "errmsg": "system busy"})
                    elif how == "wx-43004":
                        self._reply(200, {"errcode": 43004, "errmsg": "require subscribe"})
                    elif self.path.startswith("/wechat"):
                        self._reply(200, {"errcode": 0, "errmsg": "ok", "msgid": 1000 + n})
                    else:
                        self._reply(200, {"id": f"sms-{n}"})
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def _reply(self, status: int, payload: dict):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> "FakeProvider":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def fail(self, n: int, how: str = "500") -> None:
        with self.lock:
            self.script.extend([how] * n)

    def sent(self, path: str | None = None) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if path is None or r["path"].startswith(path)]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
