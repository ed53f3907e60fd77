#!/usr/bin/env python3
"""A tiny smart-HTTP git server for the integration tests (Python 3 standard library only).

    git_http_server.py [--tokens-file FILE] PROJECT_ROOT USERNAME PASSWORD AUTH_LOG

Listens on 127.0.0.1 on a port the kernel chooses and prints that port as the first line
of stdout. Every request must carry HTTP Basic credentials equal to USERNAME/PASSWORD, else
it is answered 401 with `WWW-Authenticate: Basic realm="kargo-test"`. Authenticated
requests are handed to `git http-backend` as CGI (repositories under PROJECT_ROOT, all
exported). Every request that carries credentials appends one line to AUTH_LOG:

    <username> accepted|rejected

With `--tokens-file FILE` the password must instead be one of the non-empty lines of FILE
(e.g. the `tokens.txt` of fake_github.py), read afresh for every request; PASSWORD is then
ignored (pass `-`). An accepted line then names the (1-based) line that matched:

    <username> accepted token <n>

The password is never written anywhere.
"""

import base64
import binascii
import http.server
import os
import shutil
import subprocess
import sys
import threading

REALM = "kargo-test"
COPY_CHUNK = 64 * 1024


class Config:
    root = ""
    username = ""
    password = ""
    tokens_file = None
    log_path = ""
    log_lock = threading.Lock()
    git = "git"


def log_attempt(username, accepted, detail=""):
    line = "%s %s%s\n" % (username, "accepted" if accepted else "rejected", detail)
    with Config.log_lock:
        with open(Config.log_path, "a", encoding="utf-8") as log:
            log.write(line)
            log.flush()


def basic_credentials(header):
    """(username, password) from an `Authorization: Basic …` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return ("<%s>" % scheme, None)
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("<undecodable>", None)
    username, sep, password = decoded.partition(":")
    return (username, password if sep else None)


def token_line(password):
    """The 1-based line of the tokens file equal to `password`, or None."""
    if not password:
        return None
    try:
        with open(Config.tokens_file, encoding="utf-8") as source:
            lines = source.read().splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, start=1):
        if line.strip() and line.strip() == password:
            return number
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 so that `Expect: 100-continue` is answered; every response closes the
    # connection, so no response needs a Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "kargo-test-git/1"

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
        sys.stderr.write("git_http_server: %s\n" % (format % args))

    def do_GET(self):
        self.handle_git()

    def do_POST(self):
        self.handle_git()

    def do_HEAD(self):
        self.handle_git()

    def deny(self):
        self.close_connection = True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="%s"' % REALM)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def handle_git(self):
        self.close_connection = True
        credentials = basic_credentials(self.headers.get("Authorization"))
        if credentials is None:
            self.discard_body()
            self.deny()
            return
        username, password = credentials
        detail = ""
        if Config.tokens_file is None:
            accepted = username == Config.username and password == Config.password
        else:
            line = token_line(password)
            accepted = username == Config.username and line is not None
            if accepted:
                detail = " token %d" % line
        log_attempt(username, accepted, detail)
        if not accepted:
            self.discard_body()
            self.deny()
            return
        self.run_backend(username)

    def discard_body(self):
        """Reads (and drops) a request body so that the client sees the 401, not a reset.
        (`Expect: 100-continue` was already answered by the base class.)"""
        for _ in self.body_chunks():
            pass

    def body_chunks(self):
        """The request body, streamed: Content-Length or chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    return
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers up to an empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining > 0:
                    data = self.rfile.read(min(remaining, COPY_CHUNK))
                    if not data:
                        return
                    remaining -= len(data)
                    yield data
                self.rfile.readline()  # CRLF after each chunk
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = self.rfile.read(min(remaining, COPY_CHUNK))
                if not data:
                    return
                remaining -= len(data)
                yield data

    def run_backend(self, username):
        path, _, query = self.path.partition("?")
        env = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
            or key in ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "GIT_EXEC_PATH")
        }
        env.update(
            {
                "GIT_PROJECT_ROOT": Config.root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": self.request_version,
                "SERVER_SOFTWARE": self.server_version,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(self.server.server_address[1]),
                "REMOTE_ADDR": self.client_address[0],
                "REMOTE_USER": username,
                "AUTH_TYPE": "Basic",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            }
        )
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if not chunked and self.headers.get("Content-Length") is not None:
            env["CONTENT_LENGTH"] = self.headers.get("Content-Length")
        # Other request headers as HTTP_* (Git-Protocol, Content-Encoding, …), as CGI does.
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_AUTHORIZATION", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"):
                continue
            env[key] = value

        backend = subprocess.Popen(
            [Config.git, "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

        def feed():
            try:
                for data in self.body_chunks():
                    backend.stdin.write(data)
            except (BrokenPipeError, ConnectionError, ValueError):
                pass
            finally:
                try:
                    backend.stdin.close()
                except (BrokenPipeError, OSError):
                    pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            status, headers = self.read_cgi_headers(backend.stdout)
            self.send_response(status[0], status[1])
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(backend.stdout, self.wfile, COPY_CHUNK)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionError):
            pass
        finally:
            backend.stdout.close()
            feeder.join(timeout=30)
            backend.wait(timeout=30)

    @staticmethod
    def read_cgi_headers(stream):
        """The CGI response head: (status code, reason) from `Status:` and other headers."""
        status = (200, "OK")
        headers = []
        while True:
            line = stream.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
            value = value.strip()
            if name.lower() == "status":
                code, _, reason = value.partition(" ")
                status = (int(code), reason or None)
            elif name.lower() in ("connection", "transfer-encoding"):
                continue
            else:
                headers.append((name, value))
        return status, headers


def main(argv):
    argv = list(argv)
    if "--tokens-file" in argv[1:]:
        index = argv.index("--tokens-file", 1)
        if index + 1 >= len(argv):
            sys.stderr.write("git_http_server.py: --tokens-file needs a FILE\n")
            return 2
        Config.tokens_file = os.path.abspath(argv[index + 1])
        del argv[index : index + 2]
    if len(argv) != 5:
        sys.stderr.write(
            "usage: git_http_server.py [--tokens-file FILE] PROJECT_ROOT USERNAME PASSWORD AUTH_LOG\n"
        )
        return 2
    Config.root = os.path.abspath(argv[1])
    Config.username = argv[2]
    Config.password = argv[3]
    Config.log_path = argv[4]
    Config.git = shutil.which("git") or "git"
    open(Config.log_path, "a").close()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sys.stdout.write("%d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
