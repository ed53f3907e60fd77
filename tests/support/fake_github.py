#!/usr/bin/env python3
"""A fake GitHub REST API for the GitHub App integration tests (SPEC §6.1, issue 4).

Python 3.11 standard library plus `cryptography` (CI: `pip install cryptography`).

    fake_github.py --public-key PEM_FILE --app-id ID [--client-id CID] --installation ID
                   --state-dir DIR [--token-ttl SECONDS (3600)] [--owner OWNER]
                   [--exit-on-stdin-eof] [--verbose]

Listens on 127.0.0.1 on a kernel-chosen port; the first stdout line is `PORT=<n>` (also
written to DIR/port). PEM_FILE is the App's RSA public key (a private key PEM works too).
It exits on SIGTERM; with `--exit-on-stdin-eof` also when stdin reaches end of file (spawn it
with a piped stdin you keep open, as for fake_kube.py, so it cannot outlive a killed test).
`--owner` makes only that owner valid in GET /repos (default: any; full_name then uses
`kargo-test-org`). Quiet: stderr gets only errors (every request with `--verbose`).
Routes (any path prefix is accepted before them, e.g. `/api/v3` for GitHub Enterprise):

  POST /app/installations/{id}/access_tokens   JWT verified (RS256, `iss` = app or client
       ID, `exp - iat <= 600`, `exp` in the future, `iat` at most 90 s old and at most 5 s
       ahead); body `{"repositories": [..]}`; 201 with a `ghs_` token scoped to them.
  GET  /repos/{owner}/{repo}   `Bearer`/`token` auth: 200 if the token was minted here, is
       unexpired and covers `repo` (case-insensitive); unknown/expired 401, other repo 404.
  GET  /healthz                200 `ok`.
Both API routes need a `User-Agent` (else 403) and `Accept: application/vnd.github+json`
(else 415), as the client must send them on every request.

State dir (created if missing; the files are created empty at start-up):
  mints.jsonl        one line per successful mint: {"token", "repositories" (as asked; null
                     if the body had none), "installation" (string), "iss" (string), "time"
                     (epoch seconds, float), "expires_at", "path"}
  validations.jsonl  one line per GET /repos: {"token", "owner", "repo", "status",
                     "injected", "time", "path"}
  requests.jsonl     one line per API request: {"method", "path", "status" (null if it
                     hung), "user_agent", "accept", "time"} -- mint attempts that failed too
  tokens.txt         every minted token, one per line (for the test git server)
  port               the port number
  control.json       written by the test, read fresh on every request (write it atomically:
                     temp file + rename). Keys, all optional:
      "mint_status": 500|429|403|..., "mint_failures": N  the next N mints (that pass the
                     header and JWT checks) answer that status; without mint_failures, all
                     do. 429 carries Retry-After ("retry_after", default 30); 403 carries
                     x-ratelimit-remaining: 0 and x-ratelimit-reset.
      "validation_unauthorized": U, "validation_forbidden": F, "validation_not_found": N
                     each new token's first U good validations answer 401, the next F 403,
                     the next N 404, then 200 (GitHub's replication delay).
      "mint_delay_ms": M   sleep M ms before answering a mint.
      "hang": true   API requests are held unanswered; once hang is cleared the connection
                     is closed without an answer. /healthz still answers.
     Counters: the mint-failure count restarts whenever control.json is rewritten; the
     validation count is per token, from its mint.

Self-test (run by hand; needs no network):

    python3 tests/support/fake_github.py --self-test

generates a key, starts the server on itself and checks mint 201, bad signature/claims 401,
no User-Agent 403, bad Accept 415, validation 200/404/401, token expiry and every failure
injection, then prints one `ok` line per check. By hand instead: `openssl genrsa -out
app.pem 2048`, start the server with `--public-key app.pem`, sign a JWT with app.pem and
`curl -H 'User-Agent: x' -H 'Accept: application/vnd.github+json' -H "Authorization:
Bearer $JWT" -d '{"repositories":["r"]}' http://127.0.0.1:$PORT/app/installations/ID/access_tokens`.
"""

import argparse
import base64
import binascii
import datetime
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

GITHUB_MEDIA_TYPE = "application/vnd.github+json"
MAX_JWT_LIFETIME = 600  # exp - iat, seconds
MAX_IAT_AGE = 90  # the client backdates iat by 60 s
MAX_IAT_AHEAD = 5
DOCS = "https://docs.github.com/rest"
UA_MESSAGE = (
    "Request forbidden by administrative rules. Please make sure your request has a "
    "User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
    "#user-agent-required). Check https://developer.github.com for other possible causes."
)
JWT_UNDECODABLE = "A JSON web token could not be decoded"
TOKEN_ALPHABET = string.ascii_letters + string.digits

MINT_RE = re.compile(r"^(?P<prefix>(?:/[^/]+)*?)/app/installations/(?P<id>[^/]+)/access_tokens/?$")
REPO_RE = re.compile(r"^(?P<prefix>(?:/[^/]+)*?)/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/?$")


class ControlError(Exception):
    pass


class Fake:
    """Everything the handlers share; mutable state behind one lock."""

    def __init__(self, public_key, app_id, client_id, installation, state_dir, ttl, owner, verbose):
        self.public_key = public_key
        self.issuers = {app_id} | ({client_id} if client_id else set())
        self.installation = installation
        self.state_dir = state_dir
        self.ttl = ttl
        self.owner = owner
        self.verbose = verbose
        self.lock = threading.Lock()
        self.tokens = {}  # token -> {"repos": set of lower-case names or None, "expires": epoch}
        self.validations = {}  # token -> good validations so far
        self.control_key = None
        self.mint_failures_used = 0
        self.stopping = threading.Event()

    def path(self, name):
        return os.path.join(self.state_dir, name)

    def append(self, name, line):
        with self.lock:
            with open(self.path(name), "a", encoding="utf-8") as out:
                out.write(line + "\n")

    def record(self, name, obj):
        self.append(name, json.dumps(obj, sort_keys=True))

    def control(self):
        """(dict, key) from control.json; key changes whenever the file is rewritten."""
        path = self.path("control.json")
        for attempt in range(5):
            try:
                with open(path, "rb") as source:
                    stat = os.fstat(source.fileno())
                    raw = source.read()
            except FileNotFoundError:
                return {}, None
            try:
                value = json.loads(raw.decode("utf-8")) if raw.strip() else {}
                if not isinstance(value, dict):
                    raise ValueError("not a JSON object")
                return value, (stat.st_ino, stat.st_mtime_ns, stat.st_size, raw)
            except ValueError as error:
                if attempt == 4:
                    raise ControlError("control.json is unusable: %s" % error)
                time.sleep(0.01)  # perhaps half-written; try again
        return {}, None

    def take_mint_failure(self, control, key):
        status = control.get("mint_status")
        if not status:
            return None
        limit = control.get("mint_failures")
        with self.lock:
            if key != self.control_key:
                self.control_key = key
                self.mint_failures_used = 0
            if limit is not None and self.mint_failures_used >= int(limit):
                return None
            self.mint_failures_used += 1
        return int(status)

    def mint(self, repositories, iss, installation, path):
        now = time.time()
        expires = int(now) + self.ttl
        token = "ghs_" + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(36))
        expires_at = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        with self.lock:
            self.tokens[token] = {
                "repos": None if repositories is None else {r.lower() for r in repositories},
                "expires": expires,
            }
            self.validations[token] = 0
        self.record(
            "mints.jsonl",
            {
                "token": token,
                "repositories": repositories,
                "installation": installation,
                "iss": iss,
                "time": now,
                "expires_at": expires_at,
                "path": path,
            },
        )
        self.append("tokens.txt", token)
        return token, expires_at

    def next_validation(self, token):
        """0-based index of this good validation of `token`."""
        with self.lock:
            index = self.validations.get(token, 0)
            self.validations[token] = index + 1
            return index


def b64url_decode(segment):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def verify_jwt(fake, jwt):
    """The claims of a valid App JWT, or raises ValueError with GitHub's message."""
    parts = jwt.split(".")
    if len(parts) != 3:
        raise ValueError(JWT_UNDECODABLE)
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(JWT_UNDECODABLE)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError(JWT_UNDECODABLE)
    if header.get("alg") != "RS256":
        raise ValueError(JWT_UNDECODABLE)
    try:
        fake.public_key.verify(
            signature,
            (parts[0] + "." + parts[1]).encode("ascii"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise ValueError(JWT_UNDECODABLE)
    now = time.time()
    iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
    if not is_int(iat):
        raise ValueError(
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued"
        )
    if not is_int(exp) or exp <= now:
        raise ValueError(
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"
        )
    if exp - iat > MAX_JWT_LIFETIME:
        raise ValueError("'Expiration time' claim ('exp') is too far in the future")
    if iat > now + MAX_IAT_AHEAD:
        raise ValueError(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past"
        )
    if iat < now - MAX_IAT_AGE:
        raise ValueError(
            "'Issued at' claim ('iat') is too far in the past (the fake allows %d s)" % MAX_IAT_AGE
        )
    if (not is_int(iss) and not isinstance(iss, str)) or str(iss) not in fake.issuers:
        raise ValueError("'Issuer' claim ('iss') must be the ID or client ID of a known App")
    return claims


def accepts_github_json(accept):
    types = [part.split(";", 1)[0].strip().lower() for part in (accept or "").split(",")]
    return GITHUB_MEDIA_TYPE in types


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 concurrent clients must not overflow the backlog
    fake = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""

    @property
    def fake(self):
        return self.server.fake

    def log_message(self, format, *args):  # noqa: A002
        if self.fake.verbose:
            sys.stderr.write("fake_github: %s\n" % (format % args))

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def do_DELETE(self):
        self.route()

    # -- plumbing ---------------------------------------------------------------------

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def log_request_line(self, status):
        self.fake.record(
            "requests.jsonl",
            {
                "method": self.command,
                "path": self.path,
                "status": status,
                "user_agent": self.headers.get("User-Agent"),
                "accept": self.headers.get("Accept"),
                "time": time.time(),
            },
        )

    def send_json(self, status, obj, headers=(), record=True):
        if status >= 400 and "documentation_url" not in obj:
            obj = dict(obj, documentation_url=DOCS, status=str(status))
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-GitHub-Request-Id", secrets.token_hex(8).upper())
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if record:
            self.log_request_line(status)

    def error(self, status, message, headers=()):
        self.send_json(status, {"message": message}, headers)

    def hold(self):
        """Never answer: wait until `hang` is cleared (or shutdown), then drop the connection."""
        self.log_request_line(None)
        while not self.fake.stopping.is_set():
            try:
                control, _ = self.fake.control()
            except ControlError:
                control = {"hang": True}
            if not control.get("hang"):
                break
            time.sleep(0.1)
        self.close_connection = True

    # -- routing ----------------------------------------------------------------------

    def route(self):
        body = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/healthz" and self.command == "GET":
            payload = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        mint = MINT_RE.match(path) if self.command == "POST" else None
        repo = REPO_RE.match(path) if self.command == "GET" else None
        if not mint and not repo:
            self.error(404, "Not Found")
            return
        try:
            control, key = self.fake.control()
        except ControlError as error:
            sys.stderr.write("fake_github: %s\n" % error)
            self.error(500, "fake_github: %s" % error)
            return
        if control.get("hang"):
            self.hold()
            return
        if not (self.headers.get("User-Agent") or "").strip():
            self.error(403, UA_MESSAGE)
            return
        accept = self.headers.get("Accept")
        if not accepts_github_json(accept):
            self.error(
                415,
                "Unsupported 'Accept' header: %r. Must accept '%s'." % (accept or "", GITHUB_MEDIA_TYPE),
            )
            return
        if mint:
            self.handle_mint(mint, body, control, key)
        else:
            self.handle_repo(repo, control)

    def handle_mint(self, match, body, control, key):
        delay = control.get("mint_delay_ms")
        if delay:
            time.sleep(float(delay) / 1000.0)
        scheme, _, jwt = (self.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not jwt.strip():
            self.error(401, JWT_UNDECODABLE)
            return
        try:
            claims = verify_jwt(self.fake, jwt.strip())
        except ValueError as error:
            self.error(401, str(error))
            return
        installation = urllib.parse.unquote(match.group("id"))
        injected = self.fake.take_mint_failure(control, key)
        if injected:
            self.injected_failure(injected, control, installation)
            return
        if installation != self.fake.installation:
            self.error(404, "Not Found")
            return
        try:
            request = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            self.error(400, "Problems parsing JSON")
            return
        if not isinstance(request, dict):
            self.error(400, "Problems parsing JSON")
            return
        repositories = request.get("repositories")
        if repositories is not None and (
            not isinstance(repositories, list)
            or not repositories
            or not all(isinstance(r, str) and r for r in repositories)
        ):
            self.error(
                422,
                "Invalid request.\n\nFor 'properties/repositories', %s is not a non-empty "
                "array of repository names." % json.dumps(repositories),
            )
            return
        token, expires_at = self.fake.mint(repositories, str(claims["iss"]), installation, self.path)
        owner = self.fake.owner or "kargo-test-org"
        response = {
            "token": token,
            "expires_at": expires_at,
            "permissions": {"contents": "read", "metadata": "read"},
            "repository_selection": "all" if repositories is None else "selected",
        }
        if repositories is not None:
            response["repositories"] = [
                {"id": 1000 + i, "name": name, "full_name": "%s/%s" % (owner, name), "private": True}
                for i, name in enumerate(repositories)
            ]
        self.send_json(201, response)

    def injected_failure(self, status, control, installation):
        if status == 429:
            self.error(
                429,
                "API rate limit exceeded",
                [("Retry-After", str(control.get("retry_after", 30)))],
            )
        elif status == 403:
            reset = int(time.time()) + int(control.get("rate_limit_reset_in", 60))
            self.error(
                403,
                "API rate limit exceeded for installation ID %s." % installation,
                [
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-used", "5000"),
                    ("x-ratelimit-reset", str(reset)),
                    ("x-ratelimit-resource", "core"),
                ],
            )
        elif status == 500:
            self.error(500, "Server Error")
        else:
            try:
                phrase = http.HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            self.error(status, phrase)

    def handle_repo(self, match, control):
        owner = urllib.parse.unquote(match.group("owner"))
        repo = urllib.parse.unquote(match.group("repo"))
        scheme, _, token = (self.headers.get("Authorization") or "").strip().partition(" ")
        token = token.strip()
        injected = False
        if scheme.lower() not in ("bearer", "token") or not token:
            status, message = 401, "Requires authentication"
            token = None
        else:
            with self.fake.lock:
                entry = self.fake.tokens.get(token)
            if entry is None or time.time() >= entry["expires"]:
                status, message = 401, "Bad credentials"
            elif (self.fake.owner and owner.lower() != self.fake.owner.lower()) or (
                entry["repos"] is not None and repo.lower() not in entry["repos"]
            ):
                status, message = 404, "Not Found"
            else:
                index = self.fake.next_validation(token)
                unauthorized = int(control.get("validation_unauthorized") or 0)
                forbidden = int(control.get("validation_forbidden") or 0)
                not_found = int(control.get("validation_not_found") or 0)
                if index < unauthorized:
                    status, message = 401, "Bad credentials"
                elif index < unauthorized + forbidden:
                    status, message = 403, "Resource not accessible by integration"
                elif index < unauthorized + forbidden + not_found:
                    status, message = 404, "Not Found"
                else:
                    status, message = 200, None
                injected = status != 200
        self.fake.record(
            "validations.jsonl",
            {
                "token": token,
                "owner": owner,
                "repo": repo,
                "status": status,
                "injected": injected,
                "time": time.time(),
                "path": self.path,
            },
        )
        if status != 200:
            self.error(status, message)
            return
        full_owner = self.fake.owner or owner
        self.send_json(
            200,
            {
                "id": 1000,
                "name": repo,
                "full_name": "%s/%s" % (full_owner, repo),
                "private": True,
                "owner": {"login": full_owner, "type": "Organization"},
                "default_branch": "main",
                "permissions": {"pull": True, "push": False, "admin": False},
            },
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


def serve(args):
    try:
        public_key = load_public_key(args.public_key)
    except (OSError, ValueError) as error:
        sys.stderr.write("fake_github: cannot load --public-key: %s\n" % error)
        return 2
    os.makedirs(args.state_dir, exist_ok=True)
    fake = Fake(
        public_key,
        args.app_id,
        args.client_id,
        args.installation,
        args.state_dir,
        args.token_ttl,
        args.owner,
        args.verbose,
    )
    for name in ("mints.jsonl", "validations.jsonl", "requests.jsonl", "tokens.txt"):
        open(fake.path(name), "a").close()
    server = Server(("127.0.0.1", 0), Handler)
    server.fake = fake
    port = server.server_address[1]
    with open(fake.path("port"), "w") as out:
        out.write("%d\n" % port)

    def stop(signum, frame):
        # os._exit, not SystemExit: a daemon thread blocked reading stdin would make the
        # interpreter's shutdown abort ("could not acquire lock for <stdin>").
        fake.stopping.set()
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
    sys.stdout.write("PORT=%d\n" % port)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        fake.stopping.set()
        server.server_close()
    return 0


# -- self-test (python3 fake_github.py --self-test) ---------------------------------------


def self_test():
    import http.client
    import subprocess
    import tempfile

    failures = []

    def check(name, condition, detail=""):
        print("%s - %s%s" % ("ok" if condition else "FAIL", name, "" if condition else ": %s" % detail))
        if not condition:
            failures.append(name)

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    def make_jwt(key, iss, iat_offset=-60, lifetime=600, alg="RS256", claims=None):
        now = int(time.time())
        payload = {"iss": iss, "iat": now + iat_offset, "exp": now + iat_offset + lifetime}
        payload.update(claims or {})
        signing_input = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(
            json.dumps(payload).encode()
        )
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64(signature)

    work = tempfile.mkdtemp(prefix="fake_github_selftest_")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = os.path.join(work, "app.pub.pem")
    with open(key_path, "wb") as out:
        out.write(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def start(state, ttl):
        process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--public-key", key_path,
             "--app-id", "12345", "--client-id", "Iv1.testclient", "--installation", "777",
             "--state-dir", state, "--token-ttl", str(ttl), "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = process.stdout.readline().strip()
        assert line.startswith("PORT="), line
        return process, int(line[5:])

    state = os.path.join(work, "state")
    server, port = start(state, 3600)
    short_state = os.path.join(work, "short")
    short_server, short_port = start(short_state, 1)
    standard = {"User-Agent": "selftest/1", "Accept": GITHUB_MEDIA_TYPE}

    def call(method, path, headers=None, body=None, to_port=None, timeout=10):
        connection = http.client.HTTPConnection("127.0.0.1", to_port or port, timeout=timeout)
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=data, headers=dict(headers if headers is not None else standard))
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode()
        return response.status, parsed, response

    def mint(repos=("app-repo",), jwt=None, headers=None, path="/app/installations/777/access_tokens", to_port=None):
        merged = dict(standard if headers is None else headers)
        merged["Authorization"] = "Bearer " + (jwt or make_jwt(key, 12345))
        return call("POST", path, merged, {"repositories": list(repos)}, to_port)

    def validate(token, repo="app-repo", scheme="Bearer", prefix="", to_port=None):
        return call("GET", "%s/repos/org/%s" % (prefix, repo),
                    dict(standard, Authorization="%s %s" % (scheme, token)), to_port=to_port)

    def control(obj, state_dir=state):
        temp = os.path.join(state_dir, "control.json.tmp")
        with open(temp, "w") as out:
            json.dump(obj, out)
        os.replace(temp, os.path.join(state_dir, "control.json"))

    try:
        status, body, _ = call("GET", "/healthz", {})
        check("healthz 200 ok", status == 200 and body == "ok", (status, body))

        status, body, _ = mint()
        token = body.get("token", "") if isinstance(body, dict) else ""
        check("mint with a good JWT (iss = app id) -> 201", status == 201, (status, body))
        check("token is ghs_ + 36 chars", re.fullmatch(r"ghs_[A-Za-z0-9]{36}", token) is not None, token)
        check("expires_at is RFC 3339 UTC, now + ttl",
              re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body.get("expires_at", ""))
              and abs(datetime.datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
                      .replace(tzinfo=datetime.timezone.utc).timestamp() - time.time() - 3600) < 5,
              body)
        check("repositories echoed with full_name",
              body.get("repositories", [{}])[0].get("full_name", "").endswith("/app-repo")
              and body.get("repository_selection") == "selected", body)

        status, body, _ = mint(repos=["other"], jwt=make_jwt(key, "Iv1.testclient"),
                               path="/api/v3/app/installations/777/access_tokens")
        ghes_token = body.get("token") if isinstance(body, dict) else None
        check("mint under /api/v3 with iss = client id -> 201", status == 201, (status, body))

        status, body, _ = mint(jwt=make_jwt(other, 12345))
        check("bad signature -> 401 'could not be decoded'",
              status == 401 and body["message"] == JWT_UNDECODABLE, (status, body))
        status, body, _ = mint(jwt="not.a.jwt")
        check("garbage JWT -> 401", status == 401, (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 12345, alg="RS512"))
        check("alg other than RS256 -> 401", status == 401, (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 99999))
        check("unknown iss -> 401", status == 401 and "iss" in body["message"], (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 12345, lifetime=601))
        check("exp - iat = 601 -> 401 too far in the future",
              status == 401 and "too far in the future" in body["message"], (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 12345, iat_offset=-700))
        check("expired JWT -> 401", status == 401 and "'exp'" in body["message"], (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 12345, iat_offset=-120))
        check("iat 120 s old -> 401", status == 401 and "'iat'" in body["message"], (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 12345, iat_offset=30, lifetime=300))
        check("iat 30 s ahead -> 401", status == 401 and "'iat'" in body["message"], (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 12345, claims={"iat": "now"}))
        check("non-integer iat -> 401", status == 401, (status, body))
        status, body, _ = mint(jwt=make_jwt(key, 12345, iat_offset=0, lifetime=600))
        check("iat = now, exp = now + 600 -> 201", status == 201, (status, body))

        status, body, _ = mint(headers={"Accept": GITHUB_MEDIA_TYPE})
        check("no User-Agent -> 403 with GitHub's message",
              status == 403 and body["message"].startswith("Request forbidden by administrative rules"),
              (status, body))
        status, body, _ = mint(headers={"User-Agent": "x", "Accept": "application/json"})
        check("Accept: application/json -> 415", status == 415, (status, body))
        status, body, _ = mint(path="/app/installations/778/access_tokens")
        check("unknown installation -> 404 Not Found",
              status == 404 and body["message"] == "Not Found", (status, body))

        status, body, _ = validate(token)
        check("validation of the minted repo -> 200", status == 200 and body.get("name") == "app-repo",
              (status, body))
        status, body, _ = validate(token, repo="APP-Repo", scheme="token", prefix="/api/v3")
        check("validation: case-insensitive repo, 'token' scheme, /api/v3 -> 200", status == 200,
              (status, body))
        status, body, _ = validate(token, repo="other")
        check("validation of another repo -> 404", status == 404 and body["message"] == "Not Found",
              (status, body))
        status, body, _ = validate(ghes_token, repo="other")
        check("the /api/v3 token validates for its own repo -> 200", status == 200, (status, body))
        status, body, _ = validate("ghs_" + "x" * 36)
        check("unknown token -> 401 Bad credentials",
              status == 401 and body["message"] == "Bad credentials", (status, body))

        control({"mint_status": 500, "mint_failures": 2})
        statuses = [mint()[0] for _ in range(3)]
        check("mint_status 500 x2 -> 500, 500, 201", statuses == [500, 500, 201], statuses)
        status, body, _ = mint(jwt=make_jwt(other, 12345))
        check("a bad JWT still gets 401 after the injected failures", status == 401, status)
        control({"mint_status": 500, "mint_failures": 1})
        status, body, _ = mint()
        check("rewriting control.json restarts the count -> 500 'Server Error'",
              status == 500 and body["message"] == "Server Error", (status, body))
        control({"mint_status": 429, "mint_failures": 1})
        status, body, response = mint()
        check("429 with Retry-After: 30", status == 429 and response.getheader("Retry-After") == "30",
              (status, body, response.getheaders()))
        control({"mint_status": 403, "mint_failures": 1})
        status, body, response = mint()
        check("403 with x-ratelimit-remaining: 0 and x-ratelimit-reset",
              status == 403 and response.getheader("x-ratelimit-remaining") == "0"
              and int(response.getheader("x-ratelimit-reset")) > time.time()
              and "rate limit" in body["message"], (status, body))
        control({"validation_not_found": 2})
        status, body, _ = mint()
        fresh = body["token"]
        statuses = [validate(fresh)[0] for _ in range(3)]
        check("validation_not_found 2 -> 404, 404, 200", statuses == [404, 404, 200], statuses)
        control({"validation_unauthorized": 1, "validation_not_found": 1})
        fresh = mint()[1]["token"]
        statuses = [validate(fresh)[0] for _ in range(3)]
        check("validation_unauthorized 1 + not_found 1 -> 401, 404, 200", statuses == [401, 404, 200],
              statuses)
        control({"mint_delay_ms": 400})
        started = time.time()
        status = mint()[0]
        check("mint_delay_ms 400 delays the answer", status == 201 and time.time() - started >= 0.4,
              (status, time.time() - started))
        control({"hang": True})
        try:
            call(
                "POST", "/app/installations/777/access_tokens",
                dict(standard, Authorization="Bearer " + make_jwt(key, 12345)), {"repositories": ["x"]},
                timeout=1)
            hung = False
        except (TimeoutError, OSError):
            hung = True
        check("hang -> no answer (client timeout)", hung)
        status, body, _ = call("GET", "/healthz", {})
        check("healthz still answers while hanging", status == 200, status)
        control({})
        check("after clearing, mints work again", mint()[0] == 201)

        short_token = mint(to_port=short_port)[1]["token"]
        first = validate(short_token, to_port=short_port)[0]
        time.sleep(2.1)
        second = validate(short_token, to_port=short_port)[0]
        check("--token-ttl 1: 200, then 401 after expiry", (first, second) == (200, 401), (first, second))

        with open(os.path.join(state, "mints.jsonl")) as source:
            mints = [json.loads(line) for line in source]
        with open(os.path.join(state, "tokens.txt")) as source:
            tokens = source.read().split()
        with open(os.path.join(state, "validations.jsonl")) as source:
            validations = [json.loads(line) for line in source]
        check("mints.jsonl has one line per 201 with the asked repositories",
              len(mints) == 8 and mints[0]["repositories"] == ["app-repo"]
              and mints[0]["installation"] == "777" and mints[0]["iss"] == "12345"
              and mints[1]["iss"] == "Iv1.testclient" and mints[1]["path"].startswith("/api/v3/"),
              (len(mints), mints[:2]))
        check("tokens.txt lists exactly the minted tokens", tokens == [m["token"] for m in mints],
              (tokens, [m["token"] for m in mints]))
        check("validations.jsonl records every attempt", len(validations) == 11, len(validations))
        short_server.stdin.close()
        try:
            short_server.wait(timeout=5)
            exited = True
        except subprocess.TimeoutExpired:
            exited = False
        check("--exit-on-stdin-eof: closing stdin stops the server", exited)
    finally:
        for process in (server, short_server):
            process.terminate()
            process.wait(timeout=10)
    print("state dir kept for inspection: %s" % state)
    if failures:
        print("%d check(s) FAILED" % len(failures))
        return 1
    print("all checks passed")
    return 0


def main():
    parser = argparse.ArgumentParser(description="Fake GitHub REST API for the kargo-creds tests.")
    parser.add_argument("--self-test", action="store_true", help="run the built-in checks and exit")
    parser.add_argument("--public-key", help="PEM file: the App's RSA public key (or private key)")
    parser.add_argument("--app-id", help="accepted JWT iss")
    parser.add_argument("--client-id", help="also accepted as JWT iss")
    parser.add_argument("--installation", help="the one installation ID")
    parser.add_argument("--state-dir", help="where the logs, tokens.txt and control.json live")
    parser.add_argument("--token-ttl", type=int, default=3600, help="token lifetime, seconds")
    parser.add_argument("--owner", help="repository owner: only this owner is valid (any if unset)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin reaches end of file")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    missing = [
        flag for flag, value in (("--public-key", args.public_key), ("--app-id", args.app_id),
                                 ("--installation", args.installation), ("--state-dir", args.state_dir))
        if not value
    ]
    if missing:
        parser.error("missing %s" % ", ".join(missing))
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
