#!/usr/bin/env python3
"""Fails when a file under server/ or client/ reaches a oneDNN header, directly or through others.

The engine is the only module that may compile oneDNN (issue 10: the server sees the abstract
engine::Engine only). Every server/ and client/ source file is preprocessed with its real compile
command from compile_commands.json, and every header there on its own with the flags of a server
file, under -H, which prints the include tree; any path into oneDNN's headers is reported with
the chain of includes that led to it.

Usage: check_no_onednn.py BUILD_DIR/compile_commands.json
"""
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

CHECKED_DIRS = ("server", "client")
FORBIDDEN = ("oneapi/dnnl", "/dnnl.h", "/dnnl_")


def preprocess_command(command, compiled, source):
    """The command that compiled `compiled`, turned into one that only preprocesses `source`
    under -H."""
    args = shlex.split(command)
    out = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if arg in ("-c", "-MD", "-MMD", compiled):
            continue
        out.append(arg)
    return out + ["-E", "-H", "-o", os.devnull, "-x", "c++", source]


def offending_chain(stderr):
    """The first include chain (outermost first) that ends in a oneDNN header, or None."""
    stack = []
    for line in stderr.splitlines():
        dots = len(line) - len(line.lstrip("."))
        if dots == 0 or not line[dots:].startswith(" "):
            continue
        path = line[dots + 1:]
        del stack[dots - 1:]
        stack.append(path)
        if any(f in path for f in FORBIDDEN):
            return stack
    return None


def check(job):
    name, cmd, cwd = job
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        return name, "could not preprocess:\n" + result.stderr[-2000:]
    chain = offending_chain(result.stderr)
    if chain:
        return name, "reaches oneDNN through: " + " -> ".join(chain)
    return name, None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    db_path = sys.argv[1]
    with open(db_path) as f:
        entries = json.load(f)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    jobs = []
    template = None
    for entry in entries:
        rel = os.path.relpath(entry["file"], root)
        if rel.split(os.sep)[0] not in CHECKED_DIRS:
            continue
        command = entry.get("command") or shlex.join(entry["arguments"])
        if rel.startswith(os.path.join("server", "api")) or template is None and rel.startswith("server"):
            template = (command, entry["file"], entry["directory"])
        jobs.append((rel, preprocess_command(command, entry["file"], entry["file"]),
                     entry["directory"]))
    if template is None:
        sys.exit("check_no_onednn: no server/ file in " + db_path)
    for top in CHECKED_DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if name.endswith(".h"):
                    path = os.path.join(dirpath, name)
                    jobs.append((os.path.relpath(path, root),
                                 preprocess_command(template[0], template[1], path),
                                 template[2]))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(check, jobs))
    failures = [(name, why) for name, why in results if why]
    for name, why in failures:
        print(f"check_no_onednn: {name} {why}")
    print(f"check_no_onednn: {len(jobs)} files under {', '.join(CHECKED_DIRS)}/ checked, "
          f"{len(failures)} reach oneDNN")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
