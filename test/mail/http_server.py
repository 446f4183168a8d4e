#!/usr/bin/python3
"""test/mail/http_server.py: the HTTP mail API the http-transport tests post to.

  http_server.py --dir DIR --log LOG --ready FILE --auth-header "Name: value"

Listens on 127.0.0.1 (HTTP/1.1, keep-alive).  A POST whose header named in
--auth-header does not carry exactly that value gets 401.  Otherwise the JSON
body decides, by the local part of "to":
  temp...   503 (the service is in trouble: retry)
  perm...   422 (the service refuses this message: failed)
  else      200 {"id": N}, and the body is written to DIR/NNNNNN.json
Every request is a JSON line in LOG (status, Idempotency-Key, whether the
auth header matched).  When listening, the port is written to --ready.
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()
sequence = 0


def log(**event):
    with lock, open(args.log, "a") as f:
        f.write(json.dumps(event) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global sequence
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        name, _, value = args.auth_header.partition(":")
        auth_ok = self.headers.get(name.strip()) == value.strip()
        event = dict(path=self.path, auth_ok=auth_ok,
                     idempotency_key=self.headers.get("Idempotency-Key"),
                     content_type=self.headers.get("Content-Type"))
        if not auth_ok:
            log(status=401, **event)
            return self.reply(401, {"error": "bad credentials"})
        doc = json.loads(body)
        local = doc["to"].split("@")[0].lower()
        if local.startswith("temp"):
            log(status=503, to=doc["to"], **event)
            return self.reply(503, {"error": "try later"})
        if local.startswith("perm"):
            log(status=422, to=doc["to"], **event)
            return self.reply(422, {"error": "recipient refused"})
        with lock:
            sequence += 1
            n = sequence
        name = "%06d.json" % n
        with open(os.path.join(args.dir, "." + name), "wb") as f:
            f.write(body)
        os.rename(os.path.join(args.dir, "." + name), os.path.join(args.dir, name))
        log(status=200, to=doc["to"], file=name, **event)
        self.reply(200, {"id": n})

    def log_message(self, format, *a):
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--auth-header", required=True)
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.ready + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.ready + ".tmp", args.ready)
    server.serve_forever()
