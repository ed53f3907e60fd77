#!/usr/bin/env python3
"""Generates a secrets folder of N git Secrets for the benchmarks (N >= 2): half exact, half
regex, spread over files of 100 documents. The one Secret that matches the benchmark URL
(`https://github.com/bench/...`) is a pattern whose name sorts last, so resolution walks
(and, for patterns, compiles) everything before it."""
import os
import sys

def main():
    root, count = sys.argv[1], int(sys.argv[2])
    project = os.path.join(root, "kargo-demo")
    os.makedirs(project, exist_ok=True)
    docs = []
    for i in range(count - 1):
        if i % 2 == 0:
            url = f"https://github.com/org-{i:05d}/repo-{i:05d}.git"
            regex = ""
        else:
            url = f"^https://gitlab\\\\.example\\\\.com/group-{i:05d}/"
            regex = '  repoURLIsRegex: "true"\n'
        docs.append(
            "apiVersion: v1\nkind: Secret\nmetadata:\n"
            f"  name: cred-{i:05d}\n  namespace: kargo-demo\n"
            "  labels:\n    kargo.akuity.io/cred-type: git\n"
            f"stringData:\n  repoURL: \"{url}\"\n{regex}"
            f"  username: user-{i:05d}\n  password: password-{i:05d}\n"
        )
    # The match: a pattern near the end of the name order.
    docs.append(
        "apiVersion: v1\nkind: Secret\nmetadata:\n"
        "  name: cred-zz-target\n  namespace: kargo-demo\n"
        "  labels:\n    kargo.akuity.io/cred-type: git\n"
        "stringData:\n  repoURL: \"^https://github\\\\.com/bench/\"\n  repoURLIsRegex: \"true\"\n"
        "  username: bench-user\n  password: bench-password\n"
    )
    for start in range(0, len(docs), 100):
        path = os.path.join(project, f"secrets-{start // 100:04d}.yaml")
        with open(path, "w") as f:
            f.write("---\n".join(docs[start:start + 100]))
        os.chmod(path, 0o600)

if __name__ == "__main__":
    main()
