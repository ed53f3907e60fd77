#!/usr/bin/env python3
"""A fake Microsoft Entra token endpoint and ACR token exchange, on one port, for the Azure
Workload Identity → ACR tests (tests/acr_workload_identity.rs).

Python 3 standard library only.

    fake_azure.py --state-dir DIR --tenant T --client-id C --assertion-file F
                  [--exit-on-stdin-eof] [--verbose]

Listens on 127.0.0.1 on a kernel-chosen port; the first stdout line is `PORT=<n>` (also
written to DIR/port). Exits on SIGTERM; with `--exit-on-stdin-eof` also when stdin reaches
end of file (spawn it with a piped stdin you keep open, so that it cannot outlive a killed
test).

Routes:

  POST /{T}/oauth2/v2.0/token   the client-credentials grant with a federated (JWT-bearer)
       client assertion. The form must hold exactly one of each: client_id = C,
       grant_type = client_credentials, client_assertion_type =
       urn:ietf:params:oauth:client-assertion-type:jwt-bearer, client_assertion = the
       content of F (read at each request), scope =
       https://containerregistry.azure.net/.default. Answers 200 {"access_token":
       "<random>", "token_type": "Bearer", "expires_in": 3599}; anything wrong 400
       {"error": "invalid_client", "error_description": "…"}.
  POST /oauth2/exchange   the ACR exchange. The form must hold exactly one of each:
       grant_type = access_token, service = some `<name>.azurecr.io` (recorded), tenant =
       T, access_token = one this fake issued. Answers 200 {"refresh_token":
       "<header>.<payload>.<sig>"} (base64url JSON header and payload; the payload's `exp`
       is now + 3 h); anything wrong 401 {"errors": [{"code": "UNAUTHORIZED", "message":
       "…"}]}.
  Anything else: 404.

Control: DIR/control.json, read at every request, may hold {"token_status": N} and/or
{"exchange_status": N}: that route then answers N with an error body (no token issued);
{"opaque_refresh": true} makes the exchange issue a refresh token that is not a JWT (no
`exp` to read; the recorded "exp" is then not the token's).

State dir:
  requests.jsonl        one line per request: {"method", "path", "route" ("token",
                        "exchange" or null), "status", "error", "time", and the form's
                        non-secret fields: "client_id", "grant_type",
                        "client_assertion_type", "scope", "service", "tenant";
                        "assertion_ok" (bool) instead of the assertion; "token_index"
                        (index into access_tokens.txt, or null) instead of the access token;
                        "refresh_index" for an issued refresh token}
  access_tokens.txt     every access token issued, one per line
  refresh_tokens.txt    every refresh token issued, one per line
  port                  the port number
"""

import argparse
import base64
import http.server
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "https://containerregistry.azure.net/.default"
REFRESH_LIFETIME = 3 * 3600
MAX_BODY = 64 * 1024
ACR_HOST = re.compile(r"^[A-Za-z0-9-]+\.azurecr\.io$")
NON_SECRET_FIELDS = ("client_id", "grant_type", "client_assertion_type", "scope", "service", "tenant")


class Refused(Exception):
    def __init__(self, description):
        super().__init__(description)
        self.description = description


class Fake:
    def __init__(self, args):
        self.state_dir = args.state_dir
        self.tenant = args.tenant
        self.client_id = args.client_id
        self.assertion_file = args.assertion_file
        self.verbose = args.verbose
        self.lock = threading.Lock()
        self.access_tokens = []
        self.refresh_tokens = []
        self.port = None

    def path(self, name):
        return os.path.join(self.state_dir, name)

    def append(self, name, line):
        with self.lock:
            with open(self.path(name), "a", encoding="utf-8") as out:
                out.write(line + "\n")

    def control(self):
        try:
            with open(self.path("control.json"), encoding="utf-8") as source:
                value = json.load(source)
            return value if isinstance(value, dict) else {}
        except (OSError, ValueError):
            return {}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def single(fields, name):
    values = fields.get(name, [])
    if len(values) != 1:
        raise Refused("the form needs exactly one %s" % name)
    return values[0]


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAzure"
    sys_version = ""

    @property
    def fake(self):
        return self.server.fake

    def log_message(self, format, *args):  # noqa: A002
        if self.fake.verbose:
            sys.stderr.write("fake_azure: %s\n" % (format % args))

    def answer(self, status, obj, record):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
        record.update({"method": self.command, "path": self.path, "status": status, "time": time.time()})
        self.fake.append("requests.jsonl", json.dumps(record, sort_keys=True))

    def read_form(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            raise Refused("a Content-Length of at most 64 KiB is required")
        body = self.rfile.read(int(length))
        media_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            raise Refused("the body must be application/x-www-form-urlencoded")
        try:
            return urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise Refused("the body is not a form")

    def do_GET(self):
        self.answer(404, {"error": "not_found"}, {"route": None, "error": "not found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/%s/oauth2/v2.0/token" % self.fake.tenant:
            self.token()
        elif path == "/oauth2/exchange":
            self.exchange()
        else:
            try:
                self.read_form()
            except Refused:
                pass
            self.answer(404, {"error": "not_found"}, {"route": None, "error": "not found"})

    def describe(self, route, fields):
        record = {"route": route, "error": None}
        for name in NON_SECRET_FIELDS:
            values = fields.get(name)
            record[name] = values[0] if values and len(values) == 1 else values
        return record

    def token(self):
        fields = {}
        record = {"route": "token", "error": None}
        try:
            fields = self.read_form()
            record = self.describe("token", fields)
            assertion = fields.get("client_assertion", [])
            try:
                with open(self.fake.assertion_file, encoding="utf-8") as source:
                    expected = source.read()
            except OSError:
                expected = None
            record["assertion_ok"] = len(assertion) == 1 and assertion[0] == expected
            status = self.fake.control().get("token_status")
            if status:
                record["error"] = "control: token_status %s" % status
                self.answer(int(status), {"error": "temporarily_unavailable",
                                          "error_description": "the fake was told to fail"}, record)
                return
            if single(fields, "client_id") != self.fake.client_id:
                raise Refused("AADSTS700016: unknown client_id")
            if single(fields, "grant_type") != GRANT_TYPE:
                raise Refused("AADSTS70003: unsupported grant_type")
            if single(fields, "client_assertion_type") != ASSERTION_TYPE:
                raise Refused("AADSTS50027: wrong client_assertion_type")
            single(fields, "client_assertion")
            if not record["assertion_ok"]:
                raise Refused("AADSTS700024: the client assertion is not the federated token")
            if single(fields, "scope") != SCOPE:
                raise Refused("AADSTS70011: wrong scope")
        except Refused as refused:
            record["error"] = refused.description
            self.answer(400, {"error": "invalid_client", "error_description": refused.description}, record)
            return
        token = "eyFakeEntra." + secrets.token_urlsafe(32)
        with self.fake.lock:
            self.fake.access_tokens.append(token)
            index = len(self.fake.access_tokens) - 1
        self.fake.append("access_tokens.txt", token)
        record["issued_index"] = index
        self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3599}, record)

    def exchange(self):
        record = {"route": "exchange", "error": None}
        try:
            fields = self.read_form()
            record = self.describe("exchange", fields)
            access = fields.get("access_token", [])
            with self.fake.lock:
                known = list(self.fake.access_tokens)
            record["token_index"] = known.index(access[0]) if len(access) == 1 and access[0] in known else None
            status = self.fake.control().get("exchange_status")
            if status:
                record["error"] = "control: exchange_status %s" % status
                self.answer(int(status), {"errors": [{"code": "UNAUTHORIZED",
                                                      "message": "the fake was told to fail"}]}, record)
                return
            if single(fields, "grant_type") != "access_token":
                raise Refused("grant_type must be access_token")
            service = single(fields, "service")
            if not ACR_HOST.match(service):
                raise Refused("service %r is not an ACR registry" % service)
            if single(fields, "tenant") != self.fake.tenant:
                raise Refused("wrong tenant")
            single(fields, "access_token")
            if record["token_index"] is None:
                raise Refused("the access token was not issued here")
        except Refused as refused:
            record["error"] = refused.description
            self.answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": refused.description}]}, record)
            return
        now = int(time.time())
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        payload = b64url(json.dumps({
            "jti": secrets.token_hex(8), "sub": "fake", "aud": service, "tenant": self.fake.tenant,
            "grant_type": "refresh_token", "iat": now, "exp": now + REFRESH_LIFETIME,
        }).encode())
        token = "%s.%s.%s" % (header, payload, b64url(secrets.token_bytes(32)))
        if self.fake.control().get("opaque_refresh"):
            token = "opaqueRefresh" + secrets.token_urlsafe(32)
        with self.fake.lock:
            self.fake.refresh_tokens.append(token)
            index = len(self.fake.refresh_tokens) - 1
        self.fake.append("refresh_tokens.txt", token)
        record["refresh_index"] = index
        record["exp"] = now + REFRESH_LIFETIME
        self.answer(200, {"refresh_token": token}, record)


def main():
    parser = argparse.ArgumentParser(description="Fake Entra token endpoint + ACR exchange for the kargo-creds tests.")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--assertion-file", required=True)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.state_dir, exist_ok=True)
    fake = Fake(args)
    for name in ("requests.jsonl", "access_tokens.txt", "refresh_tokens.txt"):
        open(fake.path(name), "a").close()
    server = Server(("127.0.0.1", 0), Handler)
    server.fake = fake
    fake.port = server.server_address[1]
    with open(fake.path("port"), "w") as out:
        out.write("%d\n" % fake.port)

    def stop(signum, frame):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_on_stdin_eof:

        def watch_stdin():
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            except (OSError, ValueError):
                pass
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write("PORT=%d\n" % fake.port)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
