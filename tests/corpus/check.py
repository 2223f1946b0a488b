#!/usr/bin/env python3
"""Checks `tidepool detect` scores of the domain corpus against faults.json:
no alert after the first day before a file's first fault, and an alert
within each fault's deadline.

Usage: tests/corpus/check.py CORPUS_DIR RESULTS_DIR [DETECTOR]
RESULTS_DIR/<category>/<DETECTOR>_<file>.csv as scripts/nab.sh writes them.
Exit 1 when a requirement is not met.
"""
import csv, json, os, sys

corpus, results = sys.argv[1], sys.argv[2]
det = sys.argv[3] if len(sys.argv) > 3 else "tidepool"
faults = json.load(open(os.path.join(corpus, "faults.json")))
failed = 0
for rel, spec in sorted(faults.items()):
    d, f = os.path.split(rel)
    with open(os.path.join(results, d, "%s_%s" % (det, f))) as fh:
        alerts = [i for i, row in enumerate(csv.DictReader(fh)) if float(row["anomaly_score"]) >= 0.5]
    first_fault = min([x["row"] for x in spec["faults"]], default=10 ** 9)
    false = [i for i in alerts if 1440 <= i < first_fault]
    problems = []
    if false:
        problems.append("%d alert(s) on clean days, first at row %d" % (len(false), false[0]))
    for x in spec["faults"]:
        hit = [i for i in alerts if x["row"] <= i < x["row"] + x["alert_within"]]
        if not hit:
            later = [i - x["row"] for i in alerts if i >= x["row"]]
            problems.append("missed %s at row %d (first alert after it: %s)"
                            % (x["what"], x["row"], "+%d" % later[0] if later else "none"))
    failed += bool(problems)
    print("%-40s %s" % (rel, "ok" if not problems else "; ".join(problems)))
sys.exit(1 if failed else 0)
