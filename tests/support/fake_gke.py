#!/usr/bin/env python3
"""A fake GKE metadata server and IAM Credentials API for the tests (Python stdlib only).

    fake_gke.py --state-dir DIR --project GCP_PROJECT [--allow ACCOUNT]... [--exit-on-stdin-eof]

Prints `PORT=<n>`. Serves, on 127.0.0.1:
* GET /computeMetadata/v1/project/project-id and
  GET /computeMetadata/v1/instance/service-accounts/default/token — only with the header
  `Metadata-Flavor: Google` (else 403, as the real server does); the token is `own-<n>`.
* POST /v1/projects/-/serviceAccounts/{ACCOUNT}:generateAccessToken — only with
  `Authorization: Bearer own-<n>` (a token this server issued) and a JSON body whose scope
  list is exactly the cloud-platform scope; ACCOUNT must be one given with --allow, else 403
  (the workload may not impersonate it) — the client then falls back to its own token.
  Answers {"accessToken": "impersonated-<account>-<n>", "expireTime": RFC 3339 now+1h}.
Every request is appended to DIR/requests.jsonl (path, status; never a token).
"""
import argparse, datetime, itertools, json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCOPE = "https://www.googleapis.com/auth/cloud-platform"

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--allow", action="append", default=[])
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    counter = itertools.count(1)
    issued = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def record(self, status):
            with lock, open(os.path.join(args.state_dir, "requests.jsonl"), "a") as log:
                log.write(json.dumps({"method": self.command, "path": self.path, "status": status}) + "\n")

        def answer(self, status, body, content_type="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.record(status)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.answer(403, "Missing Metadata-Flavor:Google header.", "text/plain")
            if self.path == "/computeMetadata/v1/project/project-id":
                return self.answer(200, args.project, "text/plain")
            if self.path == "/computeMetadata/v1/instance/service-accounts/default/token":
                token = f"own-{next(counter)}"
                with lock:
                    issued.add(token)
                return self.answer(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
            return self.answer(404, "not found", "text/plain")

        def do_POST(self):
            prefix, suffix = "/v1/projects/-/serviceAccounts/", ":generateAccessToken"
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not (self.path.startswith(prefix) and self.path.endswith(suffix)):
                return self.answer(404, {"error": {"code": 404, "message": "not found"}})
            account = self.path[len(prefix):-len(suffix)]
            bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            with lock:
                known = bearer in issued
            if not known:
                return self.answer(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials."}})
            try:
                scopes = json.loads(body).get("scope")
            except ValueError:
                scopes = None
            if scopes != [SCOPE]:
                return self.answer(400, {"error": {"code": 400, "message": "bad scope"}})
            if account not in args.allow:
                return self.answer(403, {"error": {"code": 403, "message": "Permission 'iam.serviceAccounts.getAccessToken' denied"}})
            expire = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return self.answer(200, {"accessToken": f"impersonated-{account}-{next(counter)}", "expireTime": expire})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    os.makedirs(args.state_dir, exist_ok=True)
    open(os.path.join(args.state_dir, "requests.jsonl"), "a").close()
    print(f"PORT={server.server_address[1]}", flush=True)
    if args.exit_on_stdin_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()

if __name__ == "__main__":
    main()
