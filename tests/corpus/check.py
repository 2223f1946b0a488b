#!/usr/bin/env python3
"""Checks `tidepool detect` scores of the domain corpus against faults.json:
after the first day no alert but during a fault or the hour after it, and
an alert within each fault's deadline (the issue's targets: the leak's hour
is not met yet; tests/detector_corpus.rs holds what is).

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
    about = lambda i: any(x["row"] <= i < x["end_row"] + 60 for x in spec["faults"])
    false = [i for i in alerts if i >= 1440 and not about(i)]
    problems = []
    if false:
        problems.append("%d alert(s) outside every fault, first at row %d" % (len(false), false[0]))
    for x in spec["faults"]:
        hit = [i for i in alerts if x["row"] <= i < x["row"] + x["alert_within"]]
        if not hit:
            later = [i - x["row"] for i in alerts if i >= x["row"]]
            problems.append("missed %s at row %d (first alert after it: %s)"
                            % (x["what"], x["row"], "+%d" % later[0] if later else "none"))
    failed += bool(problems)
    print("%-40s %s" % (rel, "ok" if not problems else "; ".join(problems)))
sys.exit(1 if failed else 0)
