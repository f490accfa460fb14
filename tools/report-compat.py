#!/usr/bin/env python3
"""Checks that a change to netkit leaves `pcap analyze --json` unchanged.

    tools/report-compat.py OLD_NETKIT NEW_NETKIT [DIR_OR_FILE ...]

Runs both binaries on every capture (*.pcap, *.pcapng, *.cap; default: tests/fixtures
and ../shared/pcaps when present) with --json and --frames, and compares the reports:
every key the old report has must be in the new one with the same value (new keys may
be added, since the contract allows new fields; no value may change, none may go).
Also compares exit status and, with --human, the human reports line for line.
Prints one line per difference and a summary; exit 1 when anything differs.
"""
import json
import os
import subprocess
import sys

EXTS = (".pcap", ".pcapng", ".cap", ".pcap.gz")


def captures(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, _, files in os.walk(p):
            for f in sorted(files):
                if f.endswith(EXTS):
                    yield os.path.join(root, f)


def run(binary, cap, extra):
    r = subprocess.run([binary, "pcap", "analyze", *extra, cap],
                       capture_output=True, timeout=600)
    return r.returncode, r.stdout


def subset(old, new, path, out):
    """Every value in old appears unchanged in new (new may hold more keys)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            out.append(f"{path}: object became {type(new).__name__}")
            return
        for k, v in old.items():
            if k not in new:
                out.append(f"{path}.{k}: missing")
            else:
                subset(v, new[k], f"{path}.{k}", out)
    elif isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            out.append(f"{path}: list length {len(old)} -> "
                       f"{len(new) if isinstance(new, list) else type(new).__name__}")
            return
        for i, (a, b) in enumerate(zip(old, new)):
            subset(a, b, f"{path}[{i}]", out)
    elif old != new:
        out.append(f"{path}: {old!r} -> {new!r}")


def main():
    args = sys.argv[1:]
    human = "--human" in args
    args = [a for a in args if a != "--human"]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    old_bin, new_bin, *paths = args
    if not paths:
        here = os.path.dirname(os.path.abspath(__file__))
        paths = [os.path.join(here, "..", "tests", "fixtures")]
        shared = os.path.join(here, "..", "..", "shared", "pcaps")
        if os.path.isdir(shared):
            paths.append(shared)
    files = differing = 0
    for cap in captures(paths):
        files += 1
        diffs = []
        (oc, oj), (nc, nj) = run(old_bin, cap, ["--json", "--frames"]), run(new_bin, cap, ["--json", "--frames"])
        if oc != nc:
            diffs.append(f"exit status {oc} -> {nc}")
        if oc == 0 and nc == 0:
            subset(json.loads(oj), json.loads(nj), "$", diffs)
        if human:
            (_, oh), (_, nh) = run(old_bin, cap, []), run(new_bin, cap, [])
            if oh != nh:
                diffs.append("human report differs")
        if diffs:
            differing += 1
            print(f"{cap}:")
            for d in diffs[:20]:
                print(f"  {d}")
            if len(diffs) > 20:
                print(f"  ... and {len(diffs) - 20} more")
    print(f"{files} captures compared, {differing} differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
