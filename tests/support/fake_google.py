#!/usr/bin/env python3
"""A fake Google OAuth 2.0 token endpoint for the GAR/GCR service-account key tests (SPEC
§6.4, issue 5).

Python 3.11 standard library plus `cryptography` (CI: `pip install cryptography`).

    fake_google.py --public-key PEM_FILE --key-id KID --client-email EMAIL --state-dir DIR
                   [--expires-in SECONDS (3599)] [--exit-on-stdin-eof] [--verbose]

Listens on 127.0.0.1 on a kernel-chosen port; the first stdout line is `PORT=<n>` (also
written to DIR/port). PEM_FILE is the service account's RSA public key (a private key PEM
works too: only its public half is used). It exits on SIGTERM; with `--exit-on-stdin-eof`
also when stdin reaches end of file (spawn it with a piped stdin you keep open, so that it
cannot outlive a killed test). Quiet: stderr gets only errors (every request with
`--verbose`).

Routes:

  POST /token   the JWT-bearer grant (RFC 7523), as Google's token endpoint takes it. The
       body must be `application/x-www-form-urlencoded` with exactly one `grant_type`, equal
       to `urn:ietf:params:oauth:grant-type:jwt-bearer`, and exactly one `assertion`: a JWT
       whose header says `alg` RS256 and `kid` = --key-id, whose signature verifies with the
       public key, and whose claims say `iss` = --client-email, `aud` = this endpoint's own
       URL (`http://127.0.0.1:<port>/token`), `scope` =
       `https://www.googleapis.com/auth/devstorage.read_only`, integer `iat` and `exp` with
       `0 < exp - iat <= 3600`, `exp` in the future and `iat` at most 60 s ahead and 300 s
       old. Answers 200 `{"access_token": "ya29.<random>", "expires_in": <--expires-in>,
       "token_type": "Bearer"}`; anything wrong answers 400 `{"error": "invalid_grant",
       "error_description": "…"}` (the description says what was wrong).
  GET  /healthz  200 `ok`.
  Anything else: 404 `{"error": "not_found", "error_description": "…"}`.

State dir (created if missing; the .jsonl files are created empty at start-up):
  grants.jsonl    one line per token issued: {"access_token", "iss", "kid", "aud", "scope",
                  "iat", "exp", "expires_in", "time" (epoch seconds, float), "path"}
  requests.jsonl  one line per request: {"method", "path", "status", "content_type",
                  "error" (the error_description, or null), "time"}
  port            the port number
"""

import argparse
import base64
import binascii
import http.server
import json
import os
import re
import secrets
import signal
import string
import sys
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
MAX_LIFETIME = 3600  # exp - iat, seconds
MAX_IAT_AHEAD = 60
MAX_IAT_AGE = 300
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"
MAX_BODY = 64 * 1024


class GrantError(Exception):
    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description


class Fake:
    def __init__(self, public_key, key_id, client_email, state_dir, expires_in, verbose):
        self.public_key = public_key
        self.key_id = key_id
        self.client_email = client_email
        self.state_dir = state_dir
        self.expires_in = expires_in
        self.verbose = verbose
        self.lock = threading.Lock()
        self.port = None

    def path(self, name):
        return os.path.join(self.state_dir, name)

    def record(self, name, obj):
        with self.lock:
            with open(self.path(name), "a", encoding="utf-8") as out:
                out.write(json.dumps(obj, sort_keys=True) + "\n")

    def own_url(self):
        return "http://127.0.0.1:%d/token" % self.port


def b64url_decode(segment):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_form(body, content_type):
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise GrantError(
            "invalid_grant",
            "the body must be application/x-www-form-urlencoded, not %r" % content_type,
        )
    try:
        text = body.decode("ascii")
        fields = urllib.parse.parse_qs(text, keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise GrantError("invalid_grant", "the body is not a form")
    for name in ("grant_type", "assertion"):
        if len(fields.get(name, [])) != 1:
            raise GrantError("invalid_grant", "the form needs exactly one %s" % name)
    if fields["grant_type"][0] != GRANT_TYPE:
        raise GrantError(
            "invalid_grant", "Invalid grant_type: %s" % fields["grant_type"][0]
        )
    return fields["assertion"][0]


def verify_assertion(fake, jwt):
    """The header and claims of a valid assertion, or raises GrantError."""
    parts = jwt.split(".")
    if len(parts) != 3:
        raise GrantError("invalid_grant", "Invalid JWT: not three segments")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise GrantError("invalid_grant", "Invalid JWT: undecodable segments")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise GrantError("invalid_grant", "Invalid JWT: header and claims must be objects")
    if header.get("alg") != "RS256":
        raise GrantError("invalid_grant", "Invalid JWT: alg must be RS256")
    if header.get("kid") != fake.key_id:
        raise GrantError("invalid_grant", "Invalid JWT: kid %r is not the key's id" % header.get("kid"))
    try:
        fake.public_key.verify(
            signature,
            (parts[0] + "." + parts[1]).encode("ascii"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise GrantError("invalid_grant", "Invalid JWT Signature.")
    if claims.get("iss") != fake.client_email:
        raise GrantError("invalid_grant", "Invalid JWT: iss is not the service account's email")
    if claims.get("aud") != fake.own_url():
        raise GrantError(
            "invalid_grant",
            "Invalid JWT: aud %r is not this token endpoint (%s)" % (claims.get("aud"), fake.own_url()),
        )
    if claims.get("scope") != SCOPE:
        raise GrantError("invalid_grant", "Invalid JWT: scope %r is not %s" % (claims.get("scope"), SCOPE))
    iat, exp = claims.get("iat"), claims.get("exp")
    if not is_int(iat) or not is_int(exp):
        raise GrantError("invalid_grant", "Invalid JWT: iat and exp must be integers")
    now = time.time()
    if not 0 < exp - iat <= MAX_LIFETIME:
        raise GrantError("invalid_grant", "Invalid JWT: exp - iat must be within 3600 s")
    if exp <= now:
        raise GrantError("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
    if iat > now + MAX_IAT_AHEAD or iat < now - MAX_IAT_AGE:
        raise GrantError("invalid_grant", "Invalid JWT: iat is not near the current time")
    return header, claims


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""

    @property
    def fake(self):
        return self.server.fake

    def log_message(self, format, *args):  # noqa: A002
        if self.fake.verbose:
            sys.stderr.write("fake_google: %s\n" % (format % args))

    def answer(self, status, obj, error=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
        self.fake.record(
            "requests.jsonl",
            {
                "method": self.command,
                "path": self.path,
                "status": status,
                "content_type": self.headers.get("Content-Type"),
                "error": error,
                "time": time.time(),
            },
        )

    def read_body(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            raise GrantError("invalid_grant", "a Content-Length of at most 64 KiB is required")
        return self.rfile.read(int(length))

    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.not_found()

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/token":
            # Drain the body so that the client reads the answer, not a reset.
            try:
                self.read_body()
            except GrantError:
                pass
            self.not_found()
            return
        try:
            body = self.read_body()
            assertion = parse_form(body, self.headers.get("Content-Type"))
            header, claims = verify_assertion(self.fake, assertion)
        except GrantError as error:
            self.answer(
                400,
                {"error": error.error, "error_description": error.description},
                error=error.description,
            )
            return
        token = "ya29." + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(48))
        self.fake.record(
            "grants.jsonl",
            {
                "access_token": token,
                "iss": claims["iss"],
                "kid": header["kid"],
                "aud": claims["aud"],
                "scope": claims["scope"],
                "iat": claims["iat"],
                "exp": claims["exp"],
                "expires_in": self.fake.expires_in,
                "time": time.time(),
                "path": self.path,
            },
        )
        self.answer(
            200,
            {"access_token": token, "expires_in": self.fake.expires_in, "token_type": "Bearer"},
        )

    def not_found(self):
        self.answer(
            404,
            {"error": "not_found", "error_description": "no route for %s %s" % (self.command, self.path)},
            error="not found",
        )


def load_public_key(path):
    with open(path, "rb") as source:
        pem = source.read()
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        key = serialization.load_pem_private_key(pem, password=None).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("%s is not an RSA key" % path)
    return key


def main():
    parser = argparse.ArgumentParser(description="Fake Google OAuth 2.0 token endpoint for the kargo-creds tests.")
    parser.add_argument("--public-key", required=True, help="PEM file: the service account's RSA public (or private) key")
    parser.add_argument("--key-id", required=True, help="the expected JWT header kid (the key's private_key_id)")
    parser.add_argument("--client-email", required=True, help="the expected iss (the key's client_email)")
    parser.add_argument("--state-dir", required=True, help="where grants.jsonl and requests.jsonl are written")
    parser.add_argument("--expires-in", type=int, default=3599, help="expires_in of issued tokens (may be negative)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin reaches end of file")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args()
    try:
        public_key = load_public_key(args.public_key)
    except (OSError, ValueError) as error:
        sys.stderr.write("fake_google: cannot load --public-key: %s\n" % error)
        return 2
    os.makedirs(args.state_dir, exist_ok=True)
    fake = Fake(public_key, args.key_id, args.client_email, args.state_dir, args.expires_in, args.verbose)
    for name in ("grants.jsonl", "requests.jsonl"):
        open(fake.path(name), "a").close()
    server = Server(("127.0.0.1", 0), Handler)
    server.fake = fake
    fake.port = server.server_address[1]
    with open(fake.path("port"), "w") as out:
        out.write("%d\n" % fake.port)

    def stop(signum, frame):
        # os._exit, not SystemExit: a daemon thread blocked reading stdin would make the
        # interpreter's shutdown abort.
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
