#!/usr/bin/env python3
"""Generates tidepool's domain corpus: runtime metrics of a service with a
daily load cycle, fault-free and with each fault class the detector must
catch, in the Numenta Anomaly Benchmark's layout (data/<category>/<file>.csv,
labels/combined_windows.json) plus faults.json (when each fault starts and
how many samples the detector may take to alert on it, and the row it ends
before).

Usage: tests/corpus/generate.py [OUT_DIR]   (default: the directory of this file)

Deterministic: the same script writes the same bytes (seeded per file).
Every series: 4 days sampled once a minute (5760 rows) from Monday
2026-03-02 00:00:00. Day 1 is the detector's to learn the cycle; day 2 is a
clean day in every file but repeated_spike (its first spike is at 22:00 of
day 2); the other faults start on days 3 and 4.
"""
import json, math, os, random, sys

START_DAY = 2  # 2026-03-02 is a Monday
ROWS = 4 * 1440
STEP = 60


def stamp(i):
    minutes = i * STEP // 60
    d, rest = divmod(minutes, 1440)
    return "2026-03-%02d %02d:%02d:00" % (START_DAY + d, rest // 60, rest % 60)


def at(day, hour, minute=0):
    """Row index of day (0-based) hh:mm."""
    return day * 1440 + hour * 60 + minute


# Days differ: each day's cycle runs up to 12 minutes early or late and its
# peak is up to 5 % lower or higher.
_DAYS = random.Random("days")
DAY_JITTER = [(_DAYS.uniform(-0.2, 0.2), _DAYS.uniform(0.95, 1.05)) for _ in range(ROWS // 1440)]


def load_shape(i):
    """Fraction of the daily peak load at row i: quiet nights (~12 %), a steep
    morning ramp 07:00-09:00, a lunch dip, an evening decline."""
    shift, peak = DAY_JITTER[i // 1440]
    h = (i % 1440) / 60.0 - shift
    ramp_up = 1.0 / (1.0 + math.exp(-(h - 8.0) * 3.0))
    ramp_down = 1.0 / (1.0 + math.exp((h - 19.5) * 1.5))
    lunch = 0.12 * math.exp(-((h - 12.5) ** 2) / 0.5)
    return 0.12 + (0.88 * ramp_up * ramp_down - lunch) * peak


def throughput(rng, i):
    mean = 2000.0 * load_shape(i)
    return max(0.0, rng.gauss(mean, 0.03 * mean + 5.0))


def wait_p99_ms(rng, i, load=None):
    u = 0.75 * (load_shape(i) if load is None else load)
    return (1.5 + 6.0 * u ** 4) * math.exp(rng.gauss(0.0, 0.08))


def in_use(rng, i):
    return min(1.0, max(0.0, 0.75 * load_shape(i) + rng.gauss(0.0, 0.02)))


def rss_mb(rng, i):
    return 420.0 + 36.0 * load_shape(i) + rng.gauss(0.0, 0.4)


def alloc_mb_s(rng, i):
    mean = 0.02 * 2000.0 * load_shape(i)
    return max(0.0, rng.gauss(mean, 0.04 * mean + 0.1))


SIGNALS = {"throughput": throughput, "wait_p99": wait_p99_ms, "in_use": in_use,
           "rss": rss_mb, "alloc_rate": alloc_mb_s}

# name -> (signal, transform(rng, i, clean value) -> value, [(start row, end row, alert within rows, what)])
def halving(rng, i, v):
    return v * 0.5 if at(2, 14) <= i < at(2, 16) else v


def night_spike(rng, i, v):
    # 03:10 on day 3: 55 % of the day's peak for 3 minutes, far below the peak.
    return 1100.0 + rng.gauss(0, 30) if at(2, 3, 10) <= i < at(2, 3, 13) else v


def leak(rng, i, v):
    start = at(2, 9)
    return v + 4.0 * (i - start) / 60.0 if i >= start else v  # 4 MB/h


def stall(rng, i, v):
    return v * 40.0 if at(2, 11) <= i < at(2, 11, 12) else v


def starvation(rng, i, v):
    return 1.0 if at(2, 10, 30) <= i < at(2, 11, 30) else v


def alloc_shift(rng, i, v):
    return v * 1.5 if i >= at(2, 15) else v


SPIKES = [at(1, 22), at(2, 10), at(2, 16), at(3, 4), at(3, 13)]


def repeated_spike(rng, i, v):
    return 25.0 + rng.gauss(0, 0.5) if i in SPIKES else v


FAULTS = {
    "throughput_halving": ("throughput", halving, [(at(2, 14), at(2, 16), 3, "throughput halves for 2 h at 14:00")]),
    "night_spike": ("throughput", night_spike,
                    [(at(2, 3, 10), at(2, 3, 13), 3, "3-minute spike at 03:10 to 55 % of the peak")]),
    "rss_leak": ("rss", leak, [(at(2, 9), ROWS, 60, "4 MB/h leak from 09:00 on")]),
    "wait_stall": ("wait_p99", stall, [(at(2, 11), at(2, 11, 12), 3, "holder stall: p99 wait x40 for 12 min")]),
    "starvation": ("in_use", starvation, [(at(2, 10, 30), at(2, 11, 30), 5, "pool exhausted for 1 h at 10:30")]),
    "alloc_shift": ("alloc_rate", alloc_shift, [(at(2, 15), ROWS, 5, "allocation rate x1.5 from 15:00 on")]),
    "repeated_spike": ("wait_p99", repeated_spike,
                       [(s, s + 1, 1, "one-sample p99 spike to 25 ms, the same size each time") for s in SPIKES]),
}


def series(name, signal, transform=None):
    rng = random.Random(name)
    gen = SIGNALS[signal]
    rows = []
    for i in range(ROWS):
        v = gen(rng, i)
        if transform is not None:
            v = transform(rng, i, v)
        rows.append((stamp(i), v))
    return rows


def write_csv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("timestamp,value\n")
        for t, v in rows:
            f.write("%s,%.4f\n" % (t, v))


def window(start, count):
    """NAB's window: 10 % of the rows / anomalies in the file, centred on the start."""
    half = ROWS // 10 // count // 2
    lo, hi = max(0, start - half), min(ROWS - 1, start + half)
    return [stamp(lo) + ".000000", stamp(hi) + ".000000"]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    windows, faults = {}, {}
    for signal in SIGNALS:
        rel = "domainClean/clean_%s.csv" % signal
        write_csv(os.path.join(out, "data", rel), series("clean_" + signal, signal))
        windows[rel] = []
        faults[rel] = {"signal": signal, "faults": []}
    for name, (signal, transform, marks) in FAULTS.items():
        rel = "domainFaults/%s.csv" % name
        write_csv(os.path.join(out, "data", rel), series(name, signal, transform))
        windows[rel] = [window(s, len(marks)) for s, _, _, _ in marks]
        faults[rel] = {"signal": signal, "faults": [
            {"start": stamp(s), "row": s, "end_row": e, "alert_within": w, "what": what}
            for s, e, w, what in marks]}
    os.makedirs(os.path.join(out, "labels"), exist_ok=True)
    with open(os.path.join(out, "labels", "combined_windows.json"), "w") as f:
        json.dump(windows, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, "faults.json"), "w") as f:
        json.dump(faults, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
