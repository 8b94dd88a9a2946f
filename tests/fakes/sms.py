"""A local SMS HTTP API: checks the HMAC signature of each POST and keeps what it received."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeSms:
    def __init__(self, secret: str = "sms-secret"):
        self.secret = secret.encode()
        self.received: list[dict] = []
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                signed = self.headers["X-Sms-Timestamp"].encode() + b"\n" + raw
                expected = hmac.new(fake.secret, signed, hashlib.sha256).hexdigest()
                fake.received.append({"body": json.loads(raw), "valid": expected == self.headers["X-Sms-Signature"]})
                body = json.dumps({"id": f"prov-{len(fake.received)}"}).encode()
                self.send_response(fake.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def __enter__(self) -> FakeSms:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
