#!/usr/bin/env python3
"""A real docker-credential-helpers client: the Python Docker SDK's credential store.

Run by tests/docker_helper.rs as

    python3 docker_sdk_client.py HELPER_PATH PROJECT KNOWN_SERVER UNKNOWN_SERVER

The SDK finds a helper by name on PATH (`docker.credentials.Store("kargo")` runs
`docker-credential-kargo`), so the folder holding HELPER_PATH is put first on PATH and the
store is checked to have picked exactly that executable. The project is handed to the
helper through the SDK's own `environment=` argument, the way a program embedding the SDK
would configure it. Prints one JSON object on stdout.

Exit codes: 0 done (the JSON says what happened), 1 a check failed (message on stderr),
77 the Docker SDK cannot be imported (the caller decides whether that is a skip).
"""

import json
import os
import sys

try:
    import docker  # noqa: F401  (the import that CI guarantees)
    from docker.credentials import Store
    from docker.credentials.errors import CredentialsNotFound, StoreError
except ImportError as error:  # pragma: no cover - depends on the machine
    print(f"docker SDK not importable: {error}", file=sys.stderr)
    sys.exit(77)


def fail(message):
    print(f"docker_sdk_client: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 5:
        fail("usage: docker_sdk_client.py HELPER_PATH PROJECT KNOWN_SERVER UNKNOWN_SERVER")
    helper, project, known, unknown = sys.argv[1:]
    helper = os.path.realpath(helper)
    if os.path.basename(helper) != "docker-credential-kargo":
        fail(f"the helper must be named docker-credential-kargo, got {helper}")

    folder = os.path.dirname(helper)
    os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")

    store = Store("kargo", environment={"KARGO_PROJECT": project})
    if store.exe is None or os.path.realpath(store.exe) != helper:
        fail(f"the SDK resolved docker-credential-kargo to {store.exe!r}, not {helper!r}")

    result = {
        "sdk_version": getattr(docker, "__version__", None),
        "program": store.program,
        "exe": os.path.realpath(store.exe),
    }

    # get for a registry that has credentials: a dict with ServerURL, Username, Secret.
    result["get"] = store.get(known)

    # list: {server: username}.
    result["list"] = store.list()

    # get for an unknown registry: the SDK must recognise the helper's "not found" answer.
    try:
        answer = store.get(unknown)
    except CredentialsNotFound as error:
        result["unknown"] = {"raised": "CredentialsNotFound", "message": str(error)}
    except StoreError as error:
        result["unknown"] = {"raised": type(error).__name__, "message": str(error)}
    else:
        result["unknown"] = {"raised": None, "answer": answer}

    # erase is accepted (exit 0): the SDK raises on anything else.
    try:
        store.erase(known)
        result["erase"] = {"raised": None}
    except StoreError as error:
        result["erase"] = {"raised": type(error).__name__, "message": str(error)}

    # store is refused (Kargo Secrets are the source of truth): a StoreError, not success.
    try:
        store.store(known, "someone", "not-a-real-secret-from-the-sdk")
        result["store"] = {"raised": None}
    except CredentialsNotFound as error:
        result["store"] = {"raised": "CredentialsNotFound", "message": str(error)}
    except StoreError as error:
        result["store"] = {"raised": type(error).__name__, "message": str(error)}

    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
