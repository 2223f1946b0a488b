#!/usr/bin/env python3
"""Writes a large recorded trace (JSONL) or rate series (CSV) for replay tests.

    gen-replay-input.py trace  OUT BYTES [RATE]   # ~BYTES of trace lines, RATE ops/s (default 2000)
    gen-replay-input.py series OUT BYTES [STEP]   # ~BYTES of rows STEP seconds apart (default 0.001), 1 arrival per row

Deterministic (a fixed LCG), so two runs write the same file.
"""
import sys


def main():
    kind, out, size = sys.argv[1], sys.argv[2], int(float(sys.argv[3]))
    x = 12345
    written = 0
    with open(out, "w", buffering=1 << 20) as f:
        if kind == "trace":
            rate = float(sys.argv[4]) if len(sys.argv) > 4 else 2000.0
            t = 0.0
            chunk = []
            while written < size:
                x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
                u = ((x >> 11) + 1) / float(1 << 53)
                t += (1.0 / rate) * (-__import__("math").log(u))
                hold = 0.001 + ((x >> 20) % 5000) / 1e6
                line = '{"t":%.9f,"wait":0.000000000,"hold":%.9f}\n' % (t, hold)
                chunk.append(line)
                written += len(line)
                if len(chunk) >= 10000:
                    f.write("".join(chunk))
                    chunk = []
            f.write("".join(chunk))
        elif kind == "series":
            step = float(sys.argv[4]) if len(sys.argv) > 4 else 0.001
            f.write("timestamp,value\n")
            k = 0
            chunk = []
            ms = int(round(step * 1000))
            while written < size:
                # Timestamps as Unix seconds with milliseconds, exact in text.
                total_ms = k * ms
                line = "%d.%03d,1\n" % (1700000000 + total_ms // 1000, total_ms % 1000)
                chunk.append(line)
                written += len(line)
                k += 1
                if len(chunk) >= 10000:
                    f.write("".join(chunk))
                    chunk = []
            f.write("".join(chunk))
        else:
            sys.exit("kind: trace or series")


if __name__ == "__main__":
    main()
