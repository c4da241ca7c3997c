"""A webhook receiver for the tests: verifies every delivery with the
`standardwebhooks` package from PyPI (an implementation independent of the
host's), records it, and answers as the test scripts it.

    python3 receiver.py            # prints "listening on <port>" once ready

POST /control  {"secrets": ["whsec_..."]}          the secrets that may sign
               {"path": "/a", "script": [{"status": 429, "retryAfter": "2"}, ...]}
                   the next answers on that path (then 204), each with an
                   optional "delayMs" and "location"
               {"down": true|false}                 answer nothing (close) while down
               {"unavailableBefore": <unix seconds>}
                   answer 503 to every delivery signed before then, whatever
                   the script says: requests a killed host sent are not
                   accepted when the receiver reads them after its death
GET  /received  {"deliveries": [...], "invalid": [...]}
POST /<path>    a delivery: verified, recorded, answered
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

LOCK = threading.Lock()
STATE = {"secrets": [], "scripts": {}, "down": False, "unavailableBefore": 0, "deliveries": [], "invalid": []}


def verify(body, headers):
    """The parsed body if one of the secrets verifies it, else None."""
    for secret in STATE["secrets"]:
        try:
            return Webhook(secret).verify(body, headers)
        except Exception:  # noqa: BLE001 - any failure means "not this secret"
            continue
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, payload=None, headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status in (204, 304):
            # No body, and no Content-Length, as HTTP requires: bytes after a
            # 204 would be read as the start of the next answer on this
            # kept-alive connection.
            self.end_headers()
            return
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/received":
            with LOCK:
                return self.answer(200, {"deliveries": STATE["deliveries"], "invalid": STATE["invalid"]})
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        raw = self.body()
        if self.path == "/control":
            command = json.loads(raw)
            with LOCK:
                if "secrets" in command:
                    STATE["secrets"] = command["secrets"]
                if "path" in command:
                    STATE["scripts"][command["path"]] = list(command.get("script", []))
                if "down" in command:
                    STATE["down"] = bool(command["down"])
                if "unavailableBefore" in command:
                    STATE["unavailableBefore"] = int(command["unavailableBefore"])
            return self.answer(200, {"ok": True})
        signed_at = int(self.headers.get("webhook-timestamp") or 0)
        with LOCK:
            down = STATE["down"]
            if signed_at < STATE["unavailableBefore"]:
                step = {"status": 503}
            else:
                script = STATE["scripts"].get(self.path) or []
                step = script.pop(0) if script else {"status": 204}
        if down:
            self.close_connection = True
            self.connection.close()
            return
        if step.get("delayMs"):
            time.sleep(step["delayMs"] / 1000)
        headers = {k.lower(): v for k, v in self.headers.items()}
        parsed = verify(raw, headers)
        record = {
            "path": self.path,
            "webhookId": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signatures": (headers.get("webhook-signature") or "").split(" "),
            "userAgent": headers.get("user-agent"),
            "receivedAt": time.time(),
            "status": step["status"],
        }
        with LOCK:
            if parsed is None:
                STATE["invalid"].append(record)
            else:
                record["body"] = parsed
                STATE["deliveries"].append(record)
        if parsed is None:
            return self.answer(401, {"error": "signature"})
        extra = {"retry-after": step["retryAfter"]} if step.get("retryAfter") else {}
        if step.get("location"):
            extra["location"] = step["location"]
        self.answer(step["status"], {"ok": step["status"] < 300}, extra)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
