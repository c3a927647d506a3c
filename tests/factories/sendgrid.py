"""A local SendGrid stand-in: a real HTTP server in a thread that records every request,
answers mail sends from a scripted list (202 once it runs out), and creates and cancels
batches of scheduled sends like SendGrid."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Announce more body than is sent, then hang up: a response cut off in transit.
    truncated: bool = False


class FakeSendGrid:
    """Records every request. Mail sends answer from a scripted list (then 202 once it runs
    out); batches are created (201) and cancelled like SendGrid's scheduled sends."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.responses: list[Scripted] = []
        self.canceled: set[str] = set()
        self.accepted: list[Recorded] = []
        self._batches = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with fake._lock:
                    fake.requests.append(
                        Recorded(self.command, self.path, dict(self.headers.items()), body)
                    )
                    if self.path == "/v3/mail/batch":
                        fake._batches += 1
                        answer = Scripted(
                            201, body=json.dumps({"batch_id": f"b{fake._batches}"}).encode()
                        )
                    elif self.path == "/v3/user/scheduled_sends":
                        assert body is not None
                        fake.canceled.add(body["batch_id"])
                        answer = Scripted(201, body=json.dumps(body).encode())
                    else:
                        answer = fake.responses.pop(0) if fake.responses else Scripted(202)
                        if 200 <= answer.status < 300 and not answer.truncated:
                            fake.accepted.append(fake.requests[-1])
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                announced = len(answer.body) + (100 if answer.truncated else 0)
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                if answer.body:
                    self.wfile.write(answer.body)

            do_POST = _handle
            do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def script(self, *responses: Scripted) -> None:
        with self._lock:
            self.responses.extend(responses)

    def posts(self) -> list[Recorded]:
        """The mail sends (batches and cancellations aside)."""
        with self._lock:
            return [r for r in self.requests if r.path == "/v3/mail/send"]

    def delivered(self) -> list[Recorded]:
        """What recipients get: every accepted send whose batch was not cancelled."""
        with self._lock:
            return [r for r in self.accepted if r.body.get("batch_id") not in self.canceled]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
