#!/usr/bin/env python3
"""A fake Kubernetes API server for the integration tests (Python 3.11 standard library;
`cryptography` -- or, failing that, the `openssl` CLI -- only to make the TLS certificates).

It serves the real REST paths and JSON shapes of core/v1 Secrets, enough discovery for
`kubectl`, bearer-token auth, namespaces the token may not read (403), label selectors and
`limit`/`continue` pagination, so that the real `kube` client and real `kubectl` can both be
pointed at it through a kubeconfig it writes.

Usage
-----

    python3 fake_kube.py --state-dir DIR [--tls] [--token TOKEN] [--forbid NS]...
                         [--page-size-cap N] [--delay-ms M] [--context-namespace NS]
                         [--user NAME] [--date-skew-seconds S] [--exit-on-stdin-eof]
                         [--verbose]

It listens on 127.0.0.1 on a port the kernel chooses, writes the files below, and only then
prints `PORT=<n>` as the first line of stdout (and nothing else on stdout afterwards). So a
test that has read the PORT line can use `DIR/kubeconfig` at once. SIGTERM/SIGINT stop it;
with `--exit-on-stdin-eof` it also exits when its stdin reaches end of file (spawn it with a
piped stdin you keep open, and it cannot outlive a test process that is killed).

Files in DIR
------------

* `DIR/kubeconfig` (mode 0600): clusters/users/contexts; current-context `fake` (the good
  token, namespace from `--context-namespace`, default `default`). Other contexts:
  `wrong-token` (a bad bearer token -> 401) and `no-token` (no credentials -> 401).
  The server is `https://127.0.0.1:<port>` with `certificate-authority-data` when `--tls`,
  else `http://127.0.0.1:<port>`.
* `DIR/ca.crt` (PEM, with `--tls`): the CA that signed `DIR/server.crt` (SANs: IP 127.0.0.1,
  IP ::1, DNS localhost; ECDSA P-256). `DIR/server.key` is the server's key.
* `DIR/secrets/<namespace>/<name>.json`: the store, one Secret per file. Tests may seed it
  by writing files at any time (also while the server runs; every request reads the
  folder afresh) and inspect what a client wrote. Seeded files are served as they are
  (even a `data` value that is not base64, so that client-side checks can be tested); only
  missing fields are filled in when served: `kind`, `apiVersion`, `metadata.name` (the
  file name) and `.namespace` (the folder), a stable `uid`, `resourceVersion` "1",
  `creationTimestamp` (the file's mtime), `type: Opaque`; a seeded `stringData` is merged
  into `data` (base64). A file that is not a JSON object is answered with a 500 Status.
  Files the server writes are the stored object (no `stringData`, `data` base64), written
  atomically.
* `DIR/requests.jsonl`: one JSON line per request, written *before* the response is sent:
      {"seq", "method", "path", "query": {name: value (a list if repeated)},
       "namespace": str|null, "resource": str|null, "name": str|null,
       "verb": "list"|"get"|"create"|"update"|"patch"|"delete"|"deletecollection"|
               "watch"|"discovery"|"other",
       "start", "end", "time" (= start): time.monotonic() floats (CLOCK_MONOTONIC),
       "status": HTTP code, "authenticated": bearer token accepted,
       "authorized": authenticated and not forbidden,
       "user_agent", "content_type", "client_port": the TCP source port (one per connection)}
  The token is never written. `start` is taken when the request line has been read,
  `end` just before the response is written, so two LISTs were in flight at once when
  their [start, end] intervals overlap.

Behaviour
---------

* Auth: with `--token`, every request (discovery and /version too) needs
  `Authorization: Bearer TOKEN`, else 401 Status
  `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
  "message":"Unauthorized","reason":"Unauthorized","code":401}`.
* `--forbid NS` (repeatable): any request under `/api/v1/namespaces/NS/...` is answered 403
  Status, reason Forbidden, e.g. `secrets is forbidden: User "system:serviceaccount:ci:runner"
  cannot list resource "secrets" in API group "" in the namespace "NS"` (the verb is the
  request's: list/get/create/update/patch/delete/...; with a name the message starts
  `secrets "NAME" is forbidden:`, as the real server words it). As with real RBAC, a user
  who cannot read every namespace cannot list cluster-wide: with any `--forbid`,
  `GET /api/v1/secrets` is 403 (`... at the cluster scope`).
* Discovery: `GET /api` (APIVersions, legacy JSON; aggregated discovery is not offered),
  `/api/v1` (APIResourceList: namespaces, secrets), `/apis` (APIGroupList with only
  authorization.k8s.io, for SelfSubjectAccessReview), `/apis/authorization.k8s.io[/v1]`,
  `/version` (gitVersion v1.33.0), `/healthz` `/livez` `/readyz` ("ok").
  `/openapi/v2` and `/openapi/v3` are 404 (kubectl copes; see below).
* Secrets (`/api/v1/namespaces/{ns}/secrets[/{name}]`):
  - GET collection -> SecretList, items sorted by name; `GET /api/v1/secrets` lists every
    namespace, sorted by (namespace, name). `labelSelector` (URL-decoded; `k=v`, `k==v`,
    `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma = AND; a bad selector is 400),
    `fieldSelector` (`metadata.name`, `metadata.namespace`, `type` with `=`, `==`, `!=`),
    `limit` and `continue` (opaque token -> `metadata.continue`; a malformed token is 400).
    `--page-size-cap N` makes every page at most N items even when the client asks for
    more or sets no limit. `metadata.remainingItemCount` is set on non-final pages of
    unfiltered lists, as the real server does. `watch=true` is 405 (not supported).
    `Accept: ...;as=Table;...` (kubectl's table output) gets a meta.k8s.io/v1 Table with
    the real columns NAME TYPE DATA AGE.
  - GET one -> Secret, or 404 Status `secrets "x" not found` (reason NotFound).
  - POST -> 201. 409 AlreadyExists if the name exists. `metadata.uid`, `resourceVersion`,
    `creationTimestamp` (RFC 3339, seconds, `Z`) are set; `generateName` is honoured;
    `stringData` is merged into `data` as base64 and dropped; `type` defaults to Opaque.
    A `data` value that is not standard padded base64 is 400 BadRequest (`Secret in
    version "v1" cannot be handled as a Secret: illegal base64 data at input byte N`, the
    real server's answer: it fails while decoding the body); a bad data key or object name
    is 422 Invalid. `fieldValidation=Strict` makes unknown fields a 400; otherwise they
    are dropped with a `Warning` header. A body namespace different from the URL's is 400.
    The namespace folder is created on demand (a real server would want the Namespace).
  - PUT -> 200, replaces the object (404 if missing; URL/body name mismatch 400; a body
    `metadata.resourceVersion` different from the stored one is 409 Conflict; none means
    an unconditional update). `uid` and `creationTimestamp` are kept, `resourceVersion`
    is bumped. `immutable: true` Secrets refuse data changes (422).
  - PATCH -> 200. `application/merge-patch+json` and `application/strategic-merge-patch+json`
    are applied as RFC 7386 JSON merge patches (`$`-directives dropped);
    `application/json-patch+json` as RFC 6902; `application/apply-patch+yaml` (server-side
    apply) is approximated: JSON body only, creates when missing, else a merge patch. A
    `metadata.resourceVersion` in the result that differs from the stored one is 409.
  - DELETE -> 200 Status Success with `details` {name, kind, uid}; 404 if missing;
    `preconditions` in the DeleteOptions body are honoured (409). DELETE on the collection
    (deletecollection, with selectors) deletes the matches and answers Status Success.
  - `dryRun=All` on writes validates and answers without storing.
* Namespaces: `GET /api/v1/namespaces` (the folders under DIR/secrets plus `default`),
  `GET /api/v1/namespaces/{ns}`, `POST /api/v1/namespaces` (creates the folder).
* `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` -> 201 with the review and
  `status.allowed` false for a forbidden namespace (and for cluster-scope when any
  namespace is forbidden, matching the 403 above), true otherwise.
* `--delay-ms M`: every request sleeps M ms (in its own thread) before it is answered.
* `--date-skew-seconds S`: the `Date` header of every response is S seconds ahead of the
  machine's clock (negative: behind), a server whose clock is off (for clock-skew checks).
* HTTP/1.1, keep-alive, every response has a Content-Length; chunked request bodies and
  `Expect: 100-continue` are accepted. TLS offers ALPN `http/1.1` only (kubectl and hyper
  fall back from h2); the TLS handshake runs in the connection's thread, a failed one is
  reported on stderr (not in requests.jsonl).

kubectl notes (checked with /usr/bin/kubectl, a dispatcher that runs kubectl v1.33.1 against
this server's v1.33.0, v1.32.4 when /version fails)
* Use `--tls`: client-go sends the bearer token only over TLS, so over plain http every
  kubectl request is a 401 ("the server has asked for the client to provide
  credentials"). The `kube` crate sends it over http too.
* `get secrets -n demo -l kargo.akuity.io/cred-type=git -o json`, `get secret NAME -n demo
  -o json`, `get secrets` (table), `get secrets -A` (without --forbid), `create secret
  generic x -n demo --from-literal=a=b`, `delete secret x -n demo`, `label`, `annotate`,
  `apply --server-side`, `auth can-i` work with no extra flag.
* `create secret` (a typed client-go client) POSTs `application/vnd.kubernetes.protobuf`
  (and accepts JSON back): Secret, Namespace, DeleteOptions and SelfSubjectAccessReview
  protobuf bodies are decoded; anything else is 415.
* Client-side validation downloads OpenAPI, which is 404 here: `kubectl apply -f` and
  `kubectl replace -f` need `--validate=false`.
* Every kubectl run first sends `GET /version` (the dispatcher) and, with a cold cache,
  discovery (`/api`, `/apis`, `/api/v1`, `/apis/authorization.k8s.io/v1`); count requests
  by `verb`/`namespace`, not by line. Give kubectl its own HOME (or `--cache-dir`), as the
  discovery cache is keyed by host:port.
* The `kube` crate sends no User-Agent unless configured (`user_agent` is null).
"""

import argparse
import base64
import binascii
import copy
import datetime
import email.utils
import http.server
import ipaddress
import json
import os
import random
import re
import signal
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

DEFAULT_USER = "system:serviceaccount:ci:runner"
WRONG_TOKEN = "wrong-token-for-fake-kube"
MAX_SECRET_BYTES = 1024 * 1024

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DATA_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
LABEL_KEY_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
B64_ALPHABET = set(string.ascii_letters + string.digits + "+/")

SECRET_FIELDS = ("apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable")
METADATA_FIELDS = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)
METADATA_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion",
                  "creationTimestamp", "labels", "annotations")


# ---------------------------------------------------------------------------------------
# Configuration and state
# ---------------------------------------------------------------------------------------

class State:
    state_dir = ""
    secrets_dir = ""
    log_path = ""
    token = None
    forbid = frozenset()
    page_cap = 0
    delay = 0.0
    date_skew = 0.0
    user = DEFAULT_USER
    verbose = False
    port = 0
    write_lock = threading.RLock()
    log_lock = threading.Lock()
    resource_version = 100
    seq = 0


def next_resource_version():
    with State.write_lock:
        State.resource_version += 1
        return str(State.resource_version)


def current_resource_version():
    with State.write_lock:
        return str(State.resource_version)


def now_rfc3339(ts=None):
    moment = datetime.datetime.fromtimestamp(time.time() if ts is None else ts, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def warn(message):
    sys.stderr.write("fake_kube: %s\n" % message)
    sys.stderr.flush()


class ApiError(Exception):
    """An error answered as a `Status` object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or []

    def status(self):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def not_found(name, resource="secrets"):
    return ApiError(404, "NotFound", '%s "%s" not found' % (resource, name),
                    {"name": name, "kind": resource})


def generic_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(name, causes):
    """422 Invalid, worded like the real server: `Secret "x" is invalid: field: ...`."""
    message = 'Secret "%s" is invalid: %s' % (name, ", ".join(
        "%s: %s" % (field, text) for field, text in causes))
    return ApiError(422, "Invalid", message, {
        "name": name,
        "kind": "Secret",
        "causes": [{"reason": "FieldValueInvalid", "message": text, "field": field}
                   for field, text in causes],
    })


def conflict(name):
    return ApiError(409, "Conflict",
                    'Operation cannot be fulfilled on secrets "%s": the object has been '
                    "modified; please apply your changes to the latest version and try again" % name,
                    {"name": name, "kind": "secrets"})


# ---------------------------------------------------------------------------------------
# Store: DIR/secrets/<namespace>/<name>.json
# ---------------------------------------------------------------------------------------

def namespace_dir(namespace):
    return os.path.join(State.secrets_dir, namespace)


def secret_path(namespace, name):
    return os.path.join(State.secrets_dir, namespace, name + ".json")


def safe_segment(value):
    return bool(value) and "/" not in value and "\0" not in value and not value.startswith(".")


def list_namespaces():
    try:
        entries = os.listdir(State.secrets_dir)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries
                  if not e.startswith(".") and os.path.isdir(os.path.join(State.secrets_dir, e)))


def list_names(namespace):
    try:
        entries = os.listdir(namespace_dir(namespace))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e[: -len(".json")] for e in entries
                  if e.endswith(".json") and not e.startswith(".") and len(e) > len(".json"))


def stable_uid(namespace, name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-kube:secret:%s/%s" % (namespace, name)))


def ordered_metadata(metadata):
    out = {}
    for key in METADATA_ORDER:
        if key in metadata:
            out[key] = metadata[key]
    for key, value in metadata.items():
        if key not in out:
            out[key] = value
    return out


def ordered_secret(secret):
    out = {"apiVersion": secret.get("apiVersion", "v1"), "kind": secret.get("kind", "Secret")}
    out["metadata"] = ordered_metadata(secret.get("metadata") or {})
    for key in ("immutable", "data", "stringData", "type"):
        if key in secret:
            out[key] = secret[key]
    for key, value in secret.items():
        if key not in out:
            out[key] = value
    return out


LOAD_CACHE = {}
LOAD_CACHE_LOCK = threading.Lock()


def load_secret(namespace, name):
    """The stored Secret as served (missing fields filled in), or None. The result is shared
    (cached by file identity): callers must not modify it."""
    path = secret_path(namespace, name)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            with LOAD_CACHE_LOCK:
                cached = LOAD_CACHE.get(path)
            if cached is not None and cached[0] == identity:
                return cached[1]
            raw = handle.read()
        mtime = stat.st_mtime
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    secret = parse_stored(raw, namespace, name, mtime)
    with LOAD_CACHE_LOCK:
        LOAD_CACHE[path] = (identity, secret)
    return secret


def parse_stored(raw, namespace, name, mtime):
    try:
        obj = json.loads(raw)
    except ValueError as error:
        raise ApiError(500, "InternalError",
                       "stored object %s/%s is not valid JSON: %s" % (namespace, name, error))
    if not isinstance(obj, dict):
        raise ApiError(500, "InternalError",
                       "stored object %s/%s is not a JSON object" % (namespace, name))
    obj.setdefault("apiVersion", "v1")
    obj.setdefault("kind", "Secret")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        obj["metadata"] = metadata
    metadata.setdefault("name", name)
    metadata.setdefault("namespace", namespace)
    metadata.setdefault("uid", stable_uid(namespace, name))
    metadata.setdefault("resourceVersion", "1")
    metadata.setdefault("creationTimestamp", now_rfc3339(mtime))
    if isinstance(obj.get("stringData"), dict):
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        obj["data"] = data
    obj.setdefault("type", "Opaque")
    return ordered_secret(obj)


def store_secret(namespace, secret):
    name = secret["metadata"]["name"]
    folder = namespace_dir(namespace)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(secret, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, secret_path(namespace, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove_secret(namespace, name):
    os.unlink(secret_path(namespace, name))


def scan_max_resource_version():
    highest = State.resource_version
    for namespace in list_namespaces():
        for name in list_names(namespace):
            try:
                with open(secret_path(namespace, name), "rb") as handle:
                    rv = int(json.load(handle)["metadata"]["resourceVersion"])
                highest = max(highest, rv)
            except Exception:  # noqa: BLE001 -- seeded files may be anything
                continue
    State.resource_version = highest


# ---------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------

def split_top_level(text):
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def check_key(key, whole):
    if not LABEL_KEY_RE.match(key) or len(key.rpartition("/")[2]) > 63:
        raise bad_request("unable to parse requirement: invalid label key \"%s\" in selector \"%s\""
                          % (key, whole))


def check_value(value, whole):
    if not LABEL_VALUE_RE.match(value) or len(value) > 63:
        raise bad_request("unable to parse requirement: invalid label value: \"%s\" in selector \"%s\""
                          % (value, whole))


SET_RE = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")


def parse_label_selector(text):
    """A list of predicates over a labels dict; 400 on a malformed selector."""
    text = (text or "").strip()
    if not text:
        return []
    predicates = []
    for part in split_top_level(text):
        req = part.strip()
        if not req:
            raise bad_request("found '', expected: identifier in selector \"%s\"" % text)
        match = SET_RE.match(req)
        if match:
            key, op, values = match.group(1), match.group(2), match.group(3)
            check_key(key, text)
            items = [v.strip() for v in values.split(",")]
            for item in items:
                check_value(item, text)
            allowed = frozenset(items)
            if op == "in":
                predicates.append(lambda labels, k=key, a=allowed: k in labels and labels[k] in a)
            else:
                predicates.append(lambda labels, k=key, a=allowed: k not in labels or labels[k] not in a)
            continue
        for op in ("!=", "==", "="):
            if op in req:
                key, _, value = req.partition(op)
                key, value = key.strip(), value.strip()
                check_key(key, text)
                check_value(value, text)
                if op == "!=":
                    predicates.append(lambda labels, k=key, v=value: labels.get(k) != v)
                else:
                    predicates.append(lambda labels, k=key, v=value: k in labels and labels[k] == v)
                break
        else:
            if req.startswith("!"):
                key = req[1:].strip()
                check_key(key, text)
                predicates.append(lambda labels, k=key: k not in labels)
            else:
                check_key(req, text)
                predicates.append(lambda labels, k=req: k in labels)
    return predicates


FIELDS = {
    "metadata.name": lambda s: s["metadata"].get("name"),
    "metadata.namespace": lambda s: s["metadata"].get("namespace"),
    "type": lambda s: s.get("type"),
}


def parse_field_selector(text):
    text = (text or "").strip()
    if not text:
        return []
    predicates = []
    for req in split_top_level(text):
        req = req.strip()
        for op in ("!=", "==", "="):
            if op in req:
                field, _, value = req.partition(op)
                field, value = field.strip(), value.strip()
                if field not in FIELDS:
                    raise bad_request('"%s" is not a known field selector: only "metadata.name", '
                                      '"metadata.namespace", "type"' % field)
                getter = FIELDS[field]
                if op == "!=":
                    predicates.append(lambda s, g=getter, v=value: g(s) != v)
                else:
                    predicates.append(lambda s, g=getter, v=value: g(s) == v)
                break
        else:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (text, req))
    return predicates


def labels_of(secret):
    labels = (secret.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in labels.items()}


# ---------------------------------------------------------------------------------------
# Lists and pagination
# ---------------------------------------------------------------------------------------

def encode_continue(namespace_scope, last_key, rv):
    raw = json.dumps({"v": 1, "scope": namespace_scope, "after": list(last_key), "rv": rv},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_continue(token, namespace_scope):
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = tuple(decoded["after"])
        if decoded.get("v") != 1 or len(after) != 2 or decoded.get("scope") != namespace_scope:
            raise ValueError("wrong token")
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                          "(version meta.k8s.io/v1)")


def parse_limit(query):
    raw = query.get("limit", "")
    if raw == "":
        return 0
    try:
        limit = int(raw)
    except ValueError:
        raise bad_request('invalid value for "limit": %r' % raw)
    return max(limit, 0)


def list_secrets(namespace, query):
    """A SecretList for one namespace, or all namespaces when `namespace` is None."""
    label_preds = parse_label_selector(query.get("labelSelector"))
    field_preds = parse_field_selector(query.get("fieldSelector"))
    limit = parse_limit(query)
    if State.page_cap > 0:
        limit = State.page_cap if limit == 0 else min(limit, State.page_cap)
    scope = namespace or ""
    token = query.get("continue") or ""
    after = decode_continue(token, scope) if token else None

    namespaces = [namespace] if namespace is not None else list_namespaces()
    keys = sorted((ns, name) for ns in namespaces for name in list_names(ns))
    if after is not None:
        keys = [key for key in keys if key > after]

    rv = current_resource_version()
    items, next_token, matched_after = [], None, 0
    for index, (ns, name) in enumerate(keys):
        secret = load_secret(ns, name)
        if secret is None:
            continue  # deleted meanwhile
        if not all(p(labels_of(secret)) for p in label_preds):
            continue
        if not all(p(secret) for p in field_preds):
            continue
        if limit and len(items) == limit:
            # one more match exists: this page is full
            last = (items[-1]["metadata"]["namespace"], items[-1]["metadata"]["name"])
            next_token = encode_continue(scope, last, rv)
            matched_after = len(keys) - index
            break
        items.append(secret)

    metadata = {"resourceVersion": rv}
    if next_token:
        metadata["continue"] = next_token
        if not label_preds and not field_preds:
            metadata["remainingItemCount"] = matched_after
    return {"kind": "SecretList", "apiVersion": "v1", "metadata": metadata, "items": items}


# ---------------------------------------------------------------------------------------
# Validation of written Secrets
# ---------------------------------------------------------------------------------------

def b64_error_offset(value):
    """Where Go's base64.StdEncoding would give up (approximately, for the message)."""
    for index, char in enumerate(value):
        if char not in B64_ALPHABET and char != "=":
            return index
    stripped = value.rstrip("=")
    return len(stripped) - len(stripped) % 4 if len(value) % 4 else len(stripped)


def decode_b64_strict(value):
    cleaned = value.replace("\r", "").replace("\n", "")  # Go's decoder skips newlines
    return base64.b64decode(cleaned.encode("ascii"), validate=True)


def handling_error(message):
    return bad_request('Secret in version "v1" cannot be handled as a Secret: %s' % message)


def prepare_secret(body, namespace, query, url_name=None):
    """Checks a Secret sent by a client and returns (secret as it will be stored, warnings).
    The server-owned metadata is left to the caller."""
    warnings = []
    if not isinstance(body, dict):
        raise handling_error("json: cannot unmarshal into Go value of type v1.Secret")
    strict = (query.get("fieldValidation") or "").lower() == "strict"
    unknown = [key for key in body if key not in SECRET_FIELDS]
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise handling_error("json: cannot unmarshal metadata into Go struct field Secret.metadata")
    unknown += ["metadata." + key for key in metadata if key not in METADATA_FIELDS]
    if unknown:
        if strict:
            raise bad_request("strict decoding error: " + ", ".join(
                'unknown field "%s"' % key for key in unknown))
        warnings.extend('unknown field "%s"' % key for key in unknown)

    kind = body.get("kind")
    if kind not in (None, "", "Secret"):
        raise bad_request('the kind in the data (%s) does not match the expected kind (Secret)'
                          % kind)
    if body.get("apiVersion") not in (None, "", "v1"):
        raise bad_request("the API version in the data (%s) does not match the expected API "
                          "version (v1)" % body.get("apiVersion"))

    body_ns = metadata.get("namespace")
    if body_ns not in (None, "") and body_ns != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace "
                          "sent on the request")

    name = metadata.get("name") or ""
    if url_name is not None and name and name != url_name:
        raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                          % (name, url_name))
    if url_name is not None and not name:
        name = url_name

    data = body.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise handling_error("json: cannot unmarshal data into Go struct field Secret.data of "
                             "type map[string][]uint8")
    clean = {}
    for key, value in data.items():
        if value is None:
            clean[key] = ""
            continue
        if not isinstance(value, str):
            raise handling_error("json: cannot unmarshal data.%s into Go struct field Secret.data "
                                 "of type []uint8" % key)
        try:
            decode_b64_strict(value)
        except (binascii.Error, ValueError, UnicodeError):
            raise handling_error("illegal base64 data at input byte %d" % b64_error_offset(value))
        clean[key] = value.replace("\r", "").replace("\n", "")
    string_data = body.get("stringData")
    if string_data is not None:
        if not isinstance(string_data, dict) or not all(
                isinstance(v, str) for v in string_data.values()):
            raise handling_error("json: cannot unmarshal stringData into Go struct field "
                                 "Secret.stringData of type map[string]string")
        for key, value in string_data.items():
            clean[key] = base64.b64encode(value.encode("utf-8")).decode("ascii")

    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is not None and (not isinstance(value, dict) or not all(
                isinstance(v, str) for v in value.values())):
            raise handling_error("json: cannot unmarshal metadata.%s into Go struct field "
                                 "ObjectMeta.metadata.%s of type map[string]string" % (field, field))

    out_meta = {}
    for key in METADATA_FIELDS:
        if key in metadata and metadata[key] not in (None, "") and key not in (
                "selfLink", "creationTimestamp", "uid", "generation", "deletionTimestamp",
                "deletionGracePeriodSeconds", "managedFields"):
            out_meta[key] = metadata[key]
    out_meta["namespace"] = namespace
    if name:
        out_meta["name"] = name
    for field in ("labels", "annotations"):
        if not out_meta.get(field):
            out_meta.pop(field, None)
    if "uid" in metadata and metadata["uid"]:
        out_meta["uid"] = metadata["uid"]  # checked by the caller (precondition)

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": out_meta}
    if body.get("immutable") is not None:
        secret["immutable"] = bool(body["immutable"])
    if clean:
        secret["data"] = clean
    secret["type"] = body.get("type") or "Opaque"
    return secret, warnings


def validate_secret(secret):
    """422 checks on the final object (after generateName)."""
    name = secret["metadata"].get("name", "")
    causes = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > 253 or not NAME_RE.match(name):
        causes.append(("metadata.name", 'Invalid value: "%s": a lowercase RFC 1123 subdomain must '
                       "consist of lower case alphanumeric characters, '-' or '.', and must "
                       "start and end with an alphanumeric character (e.g. 'example.com', regex "
                       "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                       "([-a-z0-9]*[a-z0-9])?)*')" % name))
    for key in (secret.get("data") or {}):
        if len(key) > 253 or not DATA_KEY_RE.match(key) or key in (".", ".."):
            causes.append(("data[%s]" % key, 'Invalid value: "%s": a valid config key must consist '
                           "of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                           "'KEY_NAME',  or 'key-name', regex used for validation is "
                           "'[-._a-zA-Z0-9]+')" % key))
    for key, value in (secret["metadata"].get("labels") or {}).items():
        if not LABEL_KEY_RE.match(key):
            causes.append(("metadata.labels", 'Invalid value: "%s": name part must consist of '
                           "alphanumeric characters, '-', '_' or '.'" % key))
        elif not LABEL_VALUE_RE.match(value) or len(value) > 63:
            causes.append(("metadata.labels", 'Invalid value: "%s": a valid label must be an empty '
                           "string or consist of alphanumeric characters, '-', '_' or '.'" % value))
    total = 0
    for value in (secret.get("data") or {}).values():
        try:
            total += len(decode_b64_strict(value))
        except (binascii.Error, ValueError):
            pass
    if total > MAX_SECRET_BYTES:
        causes.append(("data", "Too long: must have at most 1048576 bytes"))
    if causes:
        raise invalid(name, causes)


# ---------------------------------------------------------------------------------------
# Patches
# ---------------------------------------------------------------------------------------

def strip_directives(patch):
    if isinstance(patch, dict):
        return {k: strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [strip_directives(v) for v in patch]
    return patch


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def pointer_parts(pointer):
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError("invalid JSON pointer %r" % pointer)
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def pointer_parent(doc, parts):
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(part)
    return node


def json_patch(doc, operations):
    """RFC 6902."""
    if not isinstance(operations, list):
        raise ValueError("a JSON patch must be an array of operations")
    doc = copy.deepcopy(doc)

    def get(path):
        node = doc
        for part in pointer_parts(path):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def remove(path):
        parts = pointer_parts(path)
        parent = pointer_parent(doc, parts)
        if isinstance(parent, list):
            return parent.pop(int(parts[-1]))
        return parent.pop(parts[-1])

    def add(path, value):
        nonlocal doc
        parts = pointer_parts(path)
        if not parts:
            doc = value
            return
        parent = pointer_parent(doc, parts)
        if isinstance(parent, list):
            if parts[-1] == "-":
                parent.append(value)
            else:
                parent.insert(int(parts[-1]), value)
        elif isinstance(parent, dict):
            parent[parts[-1]] = value
        else:
            raise KeyError(path)

    for op in operations:
        kind = op.get("op")
        path = op.get("path", "")
        if kind == "add":
            add(path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            remove(path)
        elif kind == "replace":
            remove(path)
            add(path, copy.deepcopy(op["value"]))
        elif kind == "move":
            value = remove(op["from"])
            add(path, value)
        elif kind == "copy":
            add(path, copy.deepcopy(get(op["from"])))
        elif kind == "test":
            if get(path) != op.get("value"):
                raise ValueError("testing value %s failed" % path)
        else:
            raise ValueError("unexpected kind of operation: %r" % kind)
    return doc


# ---------------------------------------------------------------------------------------
# Operations on Secrets
# ---------------------------------------------------------------------------------------

def dry_run(query):
    return query.get("dryRun", "") == "All"


def create_secret(namespace, body, query):
    secret, warnings = prepare_secret(body, namespace, query)
    meta = secret["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        meta["name"] = meta["generateName"] + suffix
    validate_secret(secret)
    name = meta["name"]
    with State.write_lock:
        if os.path.exists(secret_path(namespace, name)):
            raise ApiError(409, "AlreadyExists", 'secrets "%s" already exists' % name,
                           {"name": name, "kind": "secrets"})
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = next_resource_version()
        meta["creationTimestamp"] = now_rfc3339()
        secret = ordered_secret(secret)
        if not dry_run(query):
            store_secret(namespace, secret)
    return 201, secret, warnings


def finish_update(namespace, name, existing, secret, warnings, query):
    """Shared by PUT and PATCH: preconditions, immutability, bump, store."""
    meta = secret["metadata"]
    sent_rv = meta.get("resourceVersion")
    if sent_rv not in (None, "") and sent_rv != existing["metadata"].get("resourceVersion"):
        raise conflict(name)
    sent_uid = meta.get("uid")
    if sent_uid not in (None, "") and sent_uid != existing["metadata"].get("uid"):
        raise ApiError(409, "Conflict",
                       "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                       % (sent_uid, existing["metadata"].get("uid")),
                       {"name": name, "kind": "secrets"})
    if existing.get("immutable") is True:
        if secret.get("data") != existing.get("data") or secret.get("immutable") is not True:
            raise invalid(name, [("data", "Forbidden: field is immutable when `immutable` is set")])
    if secret.get("type") != existing.get("type"):
        raise invalid(name, [("type", 'Invalid value: "%s": field is immutable' % secret.get("type"))])
    validate_secret(secret)
    meta["uid"] = existing["metadata"]["uid"]
    meta["creationTimestamp"] = existing["metadata"]["creationTimestamp"]
    meta["resourceVersion"] = next_resource_version()
    secret = ordered_secret(secret)
    if not dry_run(query):
        store_secret(namespace, secret)
    return 200, secret, warnings


def replace_secret(namespace, name, body, query):
    secret, warnings = prepare_secret(body, namespace, query, url_name=name)
    with State.write_lock:
        existing = load_secret(namespace, name)
        if existing is None:
            raise not_found(name)
        return finish_update(namespace, name, existing, secret, warnings, query)


def patch_secret(namespace, name, raw_body, content_type, query):
    media = (content_type or "").split(";")[0].strip().lower()
    try:
        patch = json.loads(raw_body or b"null")
    except ValueError as error:
        if media == "application/apply-patch+yaml":
            raise bad_request("the fake API server only understands JSON apply bodies: %s" % error)
        raise bad_request("error decoding patch: %s" % error)
    with State.write_lock:
        existing = load_secret(namespace, name)
        if media in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if existing is None:
                raise not_found(name)
            if not isinstance(patch, dict):
                raise bad_request("error decoding patch: the patch is not a JSON object")
            result = merge_patch(existing, strip_directives(patch))
        elif media == "application/json-patch+json":
            if existing is None:
                raise not_found(name)
            try:
                result = json_patch(existing, patch)
            except (ValueError, KeyError, IndexError, TypeError) as error:
                raise ApiError(422, "Invalid",
                               "the server rejected our request due to an error in our request: %s"
                               % error)
        elif media == "application/apply-patch+yaml":
            if existing is None:
                body = dict(patch) if isinstance(patch, dict) else patch
                if isinstance(body, dict):
                    body.setdefault("metadata", {})
                    if isinstance(body["metadata"], dict):
                        body["metadata"].setdefault("name", name)
                status, secret, warnings = create_secret(namespace, body, query)
                return status, secret, warnings
            result = merge_patch(existing, patch if isinstance(patch, dict) else {})
        else:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml")
        if isinstance(result, dict) and isinstance(result.get("metadata"), dict):
            patched_name = result["metadata"].get("name")
            if patched_name not in (None, name):
                raise invalid(name, [("metadata.name", 'Invalid value: "%s": field is immutable'
                                      % patched_name)])
        secret, warnings = prepare_secret(result, namespace, {}, url_name=name)
        return finish_update(namespace, name, existing, secret, warnings, query)


def delete_secret(namespace, name, raw_body, query):
    options = {}
    if raw_body:
        try:
            options = json.loads(raw_body)
        except ValueError as error:
            raise bad_request("error decoding DeleteOptions: %s" % error)
    with State.write_lock:
        existing = load_secret(namespace, name)
        if existing is None:
            raise not_found(name)
        pre = (options or {}).get("preconditions") or {}
        if pre.get("resourceVersion") not in (None, "") and \
                pre["resourceVersion"] != existing["metadata"].get("resourceVersion"):
            raise ApiError(409, "Conflict",
                           "Operation cannot be fulfilled on secrets \"%s\": Precondition failed: "
                           "ResourceVersion in precondition: %s, ResourceVersion in object meta: %s"
                           % (name, pre["resourceVersion"], existing["metadata"]["resourceVersion"]),
                           {"name": name, "kind": "secrets"})
        if pre.get("uid") not in (None, "") and pre["uid"] != existing["metadata"].get("uid"):
            raise ApiError(409, "Conflict",
                           "Operation cannot be fulfilled on secrets \"%s\": Precondition failed: "
                           "UID in precondition: %s, UID in object meta: %s"
                           % (name, pre["uid"], existing["metadata"]["uid"]),
                           {"name": name, "kind": "secrets"})
        if not dry_run(query):
            remove_secret(namespace, name)
            next_resource_version()
    return 200, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "kind": "secrets", "uid": existing["metadata"]["uid"]},
    }, []


def delete_collection(namespace, query):
    listing = list_secrets(namespace, {k: v for k, v in query.items()
                                       if k in ("labelSelector", "fieldSelector")})
    with State.write_lock:
        if not dry_run(query):
            for item in listing["items"]:
                try:
                    remove_secret(namespace, item["metadata"]["name"])
                except FileNotFoundError:
                    pass
            next_resource_version()
    return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                 "details": {"kind": "secrets"}}, []


# ---------------------------------------------------------------------------------------
# Protobuf request bodies (client-go's typed clients, e.g. `kubectl create secret`, send
# `application/vnd.kubernetes.protobuf`; they accept JSON answers)
# ---------------------------------------------------------------------------------------

PROTO_MAGIC = b"k8s\x00"

TIME = ("time",)
OWNER_REFERENCE = {1: ("kind", "string"), 2: ("name", "string"), 3: ("uid", "string"),
                   5: ("apiVersion", "string"), 6: ("controller", "bool"),
                   7: ("blockOwnerDeletion", "bool")}
OBJECT_META = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    4: ("selfLink", "string"), 5: ("uid", "string"), 6: ("resourceVersion", "string"),
    7: ("generation", "int"), 8: ("creationTimestamp", TIME), 9: ("deletionTimestamp", TIME),
    10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("repeated", OWNER_REFERENCE)),
    14: ("finalizers", ("repeated", "string")),
}
PROTO_SCHEMAS = {
    ("v1", "Secret"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")),
                       3: ("type", "string"), 4: ("stringData", ("map", "string")),
                       5: ("immutable", "bool")},
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META)},
    ("v1", "DeleteOptions"): {1: ("gracePeriodSeconds", "int"),
                              2: ("preconditions", {1: ("uid", "string"),
                                                    2: ("resourceVersion", "string")}),
                              3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"),
                              5: ("dryRun", ("repeated", "string"))},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", OBJECT_META),
        2: ("spec", {
            1: ("resourceAttributes", {1: ("namespace", "string"), 2: ("verb", "string"),
                                       3: ("group", "string"), 4: ("version", "string"),
                                       5: ("resource", "string"), 6: ("subresource", "string"),
                                       7: ("name", "string")}),
            2: ("nonResourceAttributes", {1: ("path", "string"), 2: ("verb", "string")}),
        }),
    },
}


def proto_fields(buf):
    """(field number, wire type, value) triples of one protobuf message."""
    pos = 0

    def varint():
        nonlocal pos
        result, shift = 0, 0
        while True:
            if pos >= len(buf):
                raise ValueError("truncated varint")
            byte = buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while pos < len(buf):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length = varint()
            if pos + length > len(buf):
                raise ValueError("truncated field %d" % number)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield number, wire, value


def proto_scalar(kind, value):
    if kind == "string":
        return value.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == TIME:
        seconds = 0
        for number, _, field in proto_fields(value):
            if number == 1:
                seconds = field - (1 << 64) if field >= 1 << 63 else field
        return None if seconds <= 0 else now_rfc3339(seconds)
    if isinstance(kind, dict):
        return proto_message(value, kind)
    raise ValueError("unknown protobuf field kind %r" % (kind,))


def proto_message(buf, schema):
    out = {}
    for number, _, value in proto_fields(buf):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            key, item = "", None
            for entry_number, _, entry_value in proto_fields(value):
                if entry_number == 1:
                    key = entry_value.decode("utf-8")
                elif entry_number == 2:
                    item = entry_value
            out.setdefault(name, {})[key] = proto_scalar(kind[1], item if item is not None else b"")
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(proto_scalar(kind[1], value))
        else:
            scalar = proto_scalar(kind, value)
            if scalar not in ("", None):  # gogo writes empty strings; JSON omits them
                out[name] = scalar
    return out


def decode_protobuf_body(raw):
    """A Kubernetes protobuf envelope (`k8s\\0` + runtime.Unknown) as the JSON object."""
    if not raw.startswith(PROTO_MAGIC):
        raise bad_request("the protobuf body does not start with the k8s magic number")
    api_version, kind, inner = "", "", b""
    try:
        for number, _, value in proto_fields(raw[len(PROTO_MAGIC):]):
            if number == 1:
                for meta_number, _, meta_value in proto_fields(value):
                    if meta_number == 1:
                        api_version = meta_value.decode("utf-8")
                    elif meta_number == 2:
                        kind = meta_value.decode("utf-8")
            elif number == 2:
                inner = value
        schema = PROTO_SCHEMAS.get((api_version, kind))
        if schema is None:
            raise ApiError(415, "UnsupportedMediaType",
                           "the fake API server cannot decode %s %s from protobuf; send JSON"
                           % (api_version, kind))
        obj = {"apiVersion": api_version, "kind": kind}
        obj.update(proto_message(inner, schema))
        return obj
    except (ValueError, UnicodeError) as error:
        raise bad_request("error decoding the protobuf body: %s" % error)


# ---------------------------------------------------------------------------------------
# Tables (kubectl's default output)
# ---------------------------------------------------------------------------------------

def human_age(timestamp):
    try:
        created = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    seconds = max(int((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()), 0)
    if seconds < 120:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 10:
        return "%dm%ds" % (minutes, seconds % 60) if seconds % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    hours = minutes // 60
    if hours < 48:
        return "%dh" % hours
    return "%dd" % (hours // 24)


def as_table(objects, list_meta, query):
    include = query.get("includeObject", "Metadata")
    rows = []
    for secret in objects:
        data = secret.get("data")
        row = {"cells": [secret["metadata"].get("name"), secret.get("type", "Opaque"),
                         len(data) if isinstance(data, dict) else 0,
                         human_age(secret["metadata"].get("creationTimestamp"))]}
        if include == "Object":
            row["object"] = secret
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": secret["metadata"]}
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."},
            {"name": "Type", "type": "string", "format": "", "priority": 0,
             "description": "Used to facilitate programmatic handling of secret data."},
            {"name": "Data", "type": "string", "format": "", "priority": 0,
             "description": "Data contains the secret data."},
            {"name": "Age", "type": "string", "format": "", "priority": 0,
             "description": "CreationTimestamp is a timestamp representing the server time when "
                            "this object was created."},
        ],
        "rows": rows,
    }


def wants_table(accept):
    return "as=table" in (accept or "").lower().replace(" ", "")


# ---------------------------------------------------------------------------------------
# Discovery and other fixed answers
# ---------------------------------------------------------------------------------------

def api_versions():
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "127.0.0.1:%d" % State.port}]}


def core_resources():
    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": False,
             "kind": "Namespace", "verbs": ["create", "get", "list"], "shortNames": ["ns"],
             "storageVersionHash": "Q3oi5N2YM8M="},
            {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch",
                       "update", "watch"],
             "storageVersionHash": "S6u1pOWzb84="},
        ],
    }


AUTHZ_GROUP = {
    "name": "authorization.k8s.io",
    "versions": [{"groupVersion": "authorization.k8s.io/v1", "version": "v1"}],
    "preferredVersion": {"groupVersion": "authorization.k8s.io/v1", "version": "v1"},
}


def api_groups():
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [AUTHZ_GROUP]}


def authz_resources():
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "authorization.k8s.io/v1",
        "resources": [{"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
                       "namespaced": False, "kind": "SelfSubjectAccessReview",
                       "verbs": ["create"]}],
    }


def version_info():
    return {
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0",
        "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T13:07:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def namespace_object(name):
    created = now_rfc3339(os.stat(namespace_dir(name)).st_mtime) if os.path.isdir(
        namespace_dir(name)) else now_rfc3339(0)
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-kube:ns:" + name)),
                         "resourceVersion": "1", "creationTimestamp": created,
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def all_namespace_names():
    return sorted(set(list_namespaces()) | {"default"})


def access_review(body):
    if not isinstance(body, dict):
        raise bad_request("SelfSubjectAccessReview body is not a JSON object")
    spec = body.get("spec") or {}
    attrs = spec.get("resourceAttributes") or {}
    namespace = attrs.get("namespace") or ""
    if namespace:
        allowed = namespace not in State.forbid
    else:
        allowed = not (State.forbid and attrs.get("resource") in ("secrets", "", None)
                       and not spec.get("nonResourceAttributes"))
    review = {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": {"allowed": allowed},
    }
    if not allowed:
        review["status"]["reason"] = "namespace %s is forbidden by the fake API server" % (
            namespace or "(cluster scope)")
    else:
        review["status"]["reason"] = "allowed by the fake API server"
    return review


def forbidden(verb, resource, namespace, name):
    subject = '%s "%s"' % (resource, name) if name else resource
    where = 'in the namespace "%s"' % namespace if namespace else "at the cluster scope"
    details = {"kind": resource}
    if name:
        details = {"name": name, "kind": resource}
    return ApiError(403, "Forbidden",
                    '%s is forbidden: User "%s" cannot %s resource "%s" in API group "" %s'
                    % (subject, State.user, verb, resource, where), details)


# ---------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------

class Request:
    """What the router needs to know about one request."""

    def __init__(self, method, path, query, body, headers):
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers
        self.namespace = None
        self.resource = None
        self.name = None
        self.verb = "other"


def parse_query(raw):
    query, log = {}, {}
    for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        if key not in query:
            query[key] = value
        if key in log:
            log[key] = log[key] if isinstance(log[key], list) else [log[key]]
            log[key].append(value)
        else:
            log[key] = value
    return query, log


def classify(req):
    """Fills namespace/resource/name/verb from the path (for auth checks and the log)."""
    segments = [urllib.parse.unquote(s) for s in req.path.strip("/").split("/")] if req.path.strip("/") else []
    req.segments = segments
    if segments[:2] == ["api", "v1"] and len(segments) >= 3:
        if segments[2] == "namespaces" and len(segments) >= 5:
            req.namespace, req.resource = segments[3], segments[4]
            req.name = segments[5] if len(segments) >= 6 else None
        elif segments[2] == "namespaces":
            req.resource = "namespaces"
            req.name = segments[3] if len(segments) >= 4 else None
        else:
            req.resource = segments[2]
            req.name = segments[3] if len(segments) >= 4 else None
    elif segments[:3] == ["apis", "authorization.k8s.io", "v1"] and len(segments) >= 4:
        req.resource = segments[3]
    if req.resource is None:
        req.verb = "discovery" if req.method == "GET" else "other"
        return
    watching = req.query.get("watch", "").lower() in ("true", "1")
    req.verb = {
        ("GET", False): "watch" if watching else "list",
        ("GET", True): "get",
        ("POST", False): "create",
        ("PUT", True): "update",
        ("PATCH", True): "patch",
        ("DELETE", True): "delete",
        ("DELETE", False): "deletecollection",
    }.get((req.method, req.name is not None), "other")


def route(req):
    """(status, body dict, warnings) for an authenticated request, or raises ApiError."""
    s = req.segments
    method = req.method
    n = len(s)

    def json_body():
        try:
            return json.loads(req.body or b"null")
        except ValueError as error:
            raise bad_request("error decoding the request body: %s" % error)

    def only(*methods):
        if method not in methods:
            raise ApiError(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource", {})

    if s == ["api"]:
        only("GET")
        return 200, api_versions(), []
    if s == ["api", "v1"]:
        only("GET")
        return 200, core_resources(), []
    if s == ["apis"]:
        only("GET")
        return 200, api_groups(), []
    if s == ["apis", "authorization.k8s.io"]:
        only("GET")
        return 200, dict(AUTHZ_GROUP, kind="APIGroup", apiVersion="v1"), []
    if s == ["apis", "authorization.k8s.io", "v1"]:
        only("GET")
        return 200, authz_resources(), []
    if s == ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]:
        only("POST")
        return 201, access_review(json_body()), []
    if s == ["version"]:
        only("GET")
        return 200, version_info(), []
    if n == 1 and s[0] in ("healthz", "livez", "readyz"):
        return 200, "ok", []

    if s[:2] != ["api", "v1"] or n < 3:
        raise generic_not_found()

    if s[2] == "secrets" and n == 3:
        only("GET")
        if State.forbid:
            raise forbidden(req.verb, "secrets", None, None)
        if req.verb == "watch":
            raise ApiError(405, "MethodNotAllowed", "watch is not supported by the fake API server")
        return 200, list_secrets(None, req.query), []

    if s[2] != "namespaces":
        raise generic_not_found()

    if n == 3:
        only("GET", "POST")
        if method == "POST":
            body = json_body()
            name = ((body or {}).get("metadata") or {}).get("name", "")
            if not NAMESPACE_RE.match(name or "") or len(name) > 63:
                raise ApiError(422, "Invalid", 'Namespace "%s" is invalid' % name)
            with State.write_lock:
                if os.path.isdir(namespace_dir(name)) or name == "default":
                    raise ApiError(409, "AlreadyExists", 'namespaces "%s" already exists' % name,
                                   {"name": name, "kind": "namespaces"})
                os.makedirs(namespace_dir(name))
            return 201, namespace_object(name), []
        items = [namespace_object(ns) for ns in all_namespace_names()]
        return 200, {"kind": "NamespaceList", "apiVersion": "v1",
                     "metadata": {"resourceVersion": current_resource_version()}, "items": items}, []

    namespace = s[3]
    if not safe_segment(namespace):
        raise generic_not_found()
    if n == 4:
        only("GET")
        if namespace not in all_namespace_names():
            raise not_found(namespace, "namespaces")
        return 200, namespace_object(namespace), []

    if namespace in State.forbid:
        raise forbidden(req.verb, s[4], namespace, req.name)
    if s[4] != "secrets" or n > 6:
        raise generic_not_found()

    if n == 5:
        if req.verb == "watch":
            raise ApiError(405, "MethodNotAllowed", "watch is not supported by the fake API server")
        if method == "GET":
            return 200, list_secrets(namespace, req.query), []
        if method == "POST":
            if not NAMESPACE_RE.match(namespace):
                raise not_found(namespace, "namespaces")
            return create_secret(namespace, json_body(), req.query)
        if method == "DELETE":
            return delete_collection(namespace, req.query)
        only("GET", "POST", "DELETE")

    name = s[5]
    if method == "GET":
        secret = load_secret(namespace, name) if safe_segment(name) else None
        if secret is None:
            raise not_found(name)
        return 200, secret, []
    if method in ("PUT", "PATCH", "DELETE") and not safe_segment(name):
        raise not_found(name)
    if method == "PUT":
        return replace_secret(namespace, name, json_body(), req.query)
    if method == "PATCH":
        return patch_secret(namespace, name, req.body, req.headers.get("Content-Type"), req.query)
    if method == "DELETE":
        return delete_secret(namespace, name, req.body, req.query)
    only("GET", "PUT", "PATCH", "DELETE")
    raise generic_not_found()


def write_log(entry):
    with State.log_lock:
        State.seq += 1
        entry["seq"] = State.seq
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with open(State.log_path, "a", encoding="utf-8") as log:
            log.write(line)
            log.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube/1"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
        if State.verbose:
            sys.stderr.write("fake_kube: %s - %s\n" % (self.address_string(), format % args))

    def date_time_string(self, timestamp=None):
        """The `Date` header, off by `--date-skew-seconds`."""
        if timestamp is None:
            timestamp = time.time()
        return email.utils.formatdate(timestamp + State.date_skew, usegmt=True)

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def do_PUT(self):
        self.serve()

    def do_PATCH(self):
        self.serve()

    def do_DELETE(self):
        self.serve()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def authenticated(self):
        if State.token is None:
            return True
        scheme, _, credential = (self.headers.get("Authorization") or "").strip().partition(" ")
        return scheme.lower() == "bearer" and credential.strip() == State.token

    def serve(self):
        start = time.monotonic()
        body = self.read_body()
        split = urllib.parse.urlsplit(self.path)
        query, log_query = parse_query(split.query)
        req = Request(self.command, split.path, query, body, self.headers)
        proto_error = None
        if body and "protobuf" in (self.headers.get("Content-Type") or "").lower():
            try:
                req.body = json.dumps(decode_protobuf_body(body)).encode("utf-8")
            except ApiError as error:
                proto_error = error
        classify(req)
        if State.delay:
            time.sleep(State.delay)

        authenticated = self.authenticated()
        authorized = False
        warnings = []
        extra_headers = []
        if not authenticated:
            status = 401
            payload = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
        else:
            try:
                if proto_error is not None:
                    raise proto_error
                status, payload, warnings = route(req)
                authorized = True
                if status < 300 and wants_table(self.headers.get("Accept")) and \
                        isinstance(payload, dict) and payload.get("kind") in ("SecretList", "Secret"):
                    if payload["kind"] == "SecretList":
                        payload = as_table(payload["items"], payload["metadata"], query)
                    else:
                        payload = as_table([payload], {"resourceVersion": payload["metadata"].get(
                            "resourceVersion", "")}, query)
            except ApiError as error:
                status, payload = error.code, error.status()
                extra_headers = error.headers
                authorized = error.code != 403
            except Exception as error:  # noqa: BLE001 -- answer, never drop the connection
                warn("internal error on %s %s: %r" % (self.command, self.path, error))
                status = 500
                payload = ApiError(500, "InternalError", "fake API server error: %r" % error).status()
                authorized = True

        if isinstance(payload, str):
            data, content_type = payload.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode("utf-8"), "application/json"
        end = time.monotonic()
        write_log({
            "seq": 0,
            "method": self.command,
            "path": split.path,
            "query": log_query,
            "namespace": req.namespace,
            "resource": req.resource,
            "name": req.name,
            "verb": req.verb,
            "time": start,
            "start": start,
            "end": end,
            "status": status,
            "authenticated": authenticated,
            "authorized": authenticated and authorized,
            "user_agent": self.headers.get("User-Agent"),
            "content_type": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"),
            "client_port": self.client_address[1] if isinstance(self.client_address, tuple) else None,
        })
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Audit-Id", str(uuid.uuid4()))
            for text in warnings:
                self.send_header("Warning", '299 - "%s"' % text.replace('"', '\\"'))
            for name, value in extra_headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionError, ssl.SSLError):
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    tls_context = None

    def finish_request(self, request, client_address):
        """Runs in the connection's thread: the TLS handshake happens here, not in accept()."""
        if self.tls_context is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(30)
            tls = self.tls_context.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (ssl.SSLError, OSError) as error:
            warn("TLS handshake with %s:%s failed: %s" % (client_address[0], client_address[1], error))
            return None
        try:
            return super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
            if State.verbose:
                warn("connection from %s: %r" % (client_address, error))
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------------------
# TLS material and kubeconfig
# ---------------------------------------------------------------------------------------

def make_certificates_cryptography(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-ca")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.DNSName("localhost"),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_file(os.path.join(directory, "ca.crt"), ca_cert.public_bytes(pem), 0o644)
    write_file(os.path.join(directory, "server.crt"), cert.public_bytes(pem), 0o644)
    write_file(os.path.join(directory, "server.key"), key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)


def make_certificates_openssl(directory):
    """The same certificates with the openssl CLI, when `cryptography` is not installed."""
    work = tempfile.mkdtemp(prefix=".tls-", dir=directory)
    conf = os.path.join(work, "ext.cnf")
    with open(conf, "w", encoding="ascii") as handle:
        handle.write(
            "[ca]\nbasicConstraints=critical,CA:TRUE,pathlen:0\n"
            "keyUsage=critical,digitalSignature,keyCertSign,cRLSign\n"
            "subjectKeyIdentifier=hash\n"
            "[server]\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    ca_key = os.path.join(work, "ca.key")
    csr = os.path.join(work, "server.csr")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ca_key)
    run("req", "-x509", "-new", "-key", ca_key, "-subj", "/CN=fake-kube-ca", "-days", "3650",
        "-sha256", "-config", conf, "-extensions", "ca", "-out", os.path.join(directory, "ca.crt"))
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
        os.path.join(directory, "server.key"))
    run("req", "-new", "-key", os.path.join(directory, "server.key"), "-subj", "/CN=fake-kube",
        "-out", csr)
    run("x509", "-req", "-in", csr, "-CA", os.path.join(directory, "ca.crt"), "-CAkey", ca_key,
        "-CAserial", os.path.join(work, "ca.srl"), "-CAcreateserial", "-days", "825", "-sha256", "-extfile", conf, "-extensions", "server",
        "-out", os.path.join(directory, "server.crt"))
    os.chmod(os.path.join(directory, "server.key"), 0o600)
    for entry in os.listdir(work):
        os.unlink(os.path.join(work, entry))
    os.rmdir(work)


def write_file(path, data, mode):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def yaml_string(value):
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def write_kubeconfig(directory, scheme, port, ca_pem, token, context_namespace):
    cluster = ["- name: fake", "  cluster:",
               "    server: %s" % yaml_string("%s://127.0.0.1:%d" % (scheme, port))]
    if ca_pem is not None:
        cluster.append("    certificate-authority-data: %s"
                       % yaml_string(base64.b64encode(ca_pem).decode("ascii")))
    good_user = ["- name: fake-user", "  user:"]
    good_user.append("    token: %s" % yaml_string(token) if token is not None else "    {}")
    lines = [
        "apiVersion: v1",
        "kind: Config",
        "preferences: {}",
        "current-context: fake",
        "clusters:",
        *cluster,
        "users:",
        *good_user,
        "- name: wrong-token-user",
        "  user:",
        "    token: %s" % yaml_string(WRONG_TOKEN),
        "- name: no-token-user",
        "  user: {}",
        "contexts:",
    ]
    for context, user in (("fake", "fake-user"), ("wrong-token", "wrong-token-user"),
                          ("no-token", "no-token-user")):
        lines += ["- name: %s" % context, "  context:", "    cluster: fake",
                  "    user: %s" % user, "    namespace: %s" % yaml_string(context_namespace)]
    write_file(os.path.join(directory, "kubeconfig"), ("\n".join(lines) + "\n").encode("utf-8"), 0o600)


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description="A fake Kubernetes API server (Secrets only).")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a CA written to DIR/ca.crt")
    parser.add_argument("--token", help="the bearer token every request must carry")
    parser.add_argument("--forbid", action="append", default=[], metavar="NAMESPACE",
                        help="answer 403 for everything in this namespace (repeatable)")
    parser.add_argument("--page-size-cap", type=int, default=0, metavar="N",
                        help="never answer more than N items per LIST page")
    parser.add_argument("--delay-ms", type=int, default=0, metavar="M",
                        help="sleep M ms before answering each request")
    parser.add_argument("--context-namespace", default="default",
                        help="the namespace of the kubeconfig contexts (default: default)")
    parser.add_argument("--user", default=DEFAULT_USER, help="the user named in 403 messages")
    parser.add_argument("--date-skew-seconds", type=float, default=0.0, metavar="S",
                        help="send a Date header S seconds off the machine's clock")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin reaches end of file")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.token is not None and (not args.token or any(c in args.token for c in "\r\n")):
        sys.stderr.write("fake_kube: --token must be non-empty and on one line\n")
        return 2
    State.state_dir = os.path.abspath(args.state_dir)
    State.secrets_dir = os.path.join(State.state_dir, "secrets")
    State.log_path = os.path.join(State.state_dir, "requests.jsonl")
    State.token = args.token
    State.forbid = frozenset(args.forbid)
    State.page_cap = max(args.page_size_cap, 0)
    State.delay = max(args.delay_ms, 0) / 1000.0
    State.date_skew = args.date_skew_seconds
    State.user = args.user
    State.verbose = args.verbose
    os.makedirs(State.secrets_dir, exist_ok=True)
    open(State.log_path, "a").close()
    scan_max_resource_version()

    server = Server(("127.0.0.1", 0), Handler)
    State.port = server.server_address[1]
    ca_pem = None
    if args.tls:
        try:
            make_certificates_cryptography(State.state_dir)
        except ImportError:
            make_certificates_openssl(State.state_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(os.path.join(State.state_dir, "server.crt"),
                                os.path.join(State.state_dir, "server.key"))
        context.set_alpn_protocols(["http/1.1"])
        server.tls_context = context
        with open(os.path.join(State.state_dir, "ca.crt"), "rb") as handle:
            ca_pem = handle.read()
    write_kubeconfig(State.state_dir, "https" if args.tls else "http", State.port, ca_pem,
                     args.token, args.context_namespace)

    def stop(signum, frame):  # noqa: ARG001
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            except (OSError, ValueError):
                pass
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()

    sys.stdout.write("PORT=%d\n" % State.port)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
