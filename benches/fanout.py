#!/usr/bin/env python3
"""N processes of one command started at once, stdin from a file, over several rounds.

    fanout.py --concurrency N --rounds R --warmup W --input FILE --expect TEXT --out JSON -- CMD...

A round spawns N children back to back (posix_spawn: no shell, no Python between fork and
exec) and waits for all of them. It measures the round's wall time (first spawn to last
exit) and, per child, the CPU time (user + system) the kernel accounts to it (wait4): on a
shared machine a round's wall time includes waiting for a core, its CPU time does not.
Every child must exit 0; one child per round has its stdout checked for --expect, so that a
fast failure can never pass for a fast answer. Writes medians as JSON.

Not peak RSS: a posix_spawn'd child's ru_maxrss counts this Python's memory from before its
exec (run.sh measures RSS with /usr/bin/time instead)."""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def spawn(command, stdin_path, stdout_path):
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    return os.posix_spawnp(command[0], command, os.environ, file_actions=actions)


def round_once(command, concurrency, stdin_path, check_path):
    start = time.perf_counter()
    pids = [spawn(command, stdin_path, check_path if i == 0 else os.devnull) for i in range(concurrency)]
    children = []
    for pid in pids:
        _, status, usage = os.wait4(pid, 0)
        children.append((os.waitstatus_to_exitcode(status), usage))
    wall = time.perf_counter() - start
    return wall, children


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--input", required=True)
    parser.add_argument("--expect", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        check_path = os.path.join(scratch, "stdout")
        walls, cpus = [], []
        for number in range(args.warmup + args.rounds):
            wall, children = round_once(args.command, args.concurrency, args.input, check_path)
            codes = {code for code, _ in children}
            if codes != {0}:
                sys.exit(f"fanout: {' '.join(args.command)}: exit codes {sorted(codes)}")
            with open(check_path) as f:
                answer = f.read()
            if args.expect not in answer:
                sys.exit(f"fanout: {' '.join(args.command)}: answer lacks {args.expect!r}: {answer!r}")
            if number < args.warmup:
                continue
            walls.append(wall)
            cpus.extend(u.ru_utime + u.ru_stime for _, u in children)

    result = {
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "wall_median_s": statistics.median(walls),
        "wall_per_get_s": statistics.median(walls) / args.concurrency,
        "cpu_per_get_median_s": statistics.median(cpus),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
