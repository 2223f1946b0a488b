#!/usr/bin/env python3
"""Runs a command and prints its wall time and peak RSS (the child's own
ru_maxrss, from wait4): `peak-rss.py LABEL CMD ARGS...`. Exits with the
command's status."""
import os
import subprocess
import sys
import time

label, cmd = sys.argv[1], sys.argv[2:]
start = time.monotonic()
child = subprocess.Popen(cmd)
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.monotonic() - start
code = os.waitstatus_to_exitcode(status)
print(f"{label}: {elapsed:.1f} s wall, peak RSS {usage.ru_maxrss / 1024:.1f} MiB, exit {code}", flush=True)
sys.exit(code)
