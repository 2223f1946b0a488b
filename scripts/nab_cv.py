#!/usr/bin/env python3
"""Leave-one-category-out cross-validation of `tidepool detect` on NAB.

Scores every parameter set of a grid (`detect --set`) on every file at the
fixed threshold 0.5 (standard profile), then, for each category, picks the
set that scores best on the *other* categories and scores the held-out
category with it. The cross-validated score is the sum of those held-out
scores, normalised as NAB does over the corpus's windows; beside it the
in-sample scores: the defaults, and the grid's best chosen on everything.
No parameter is ever chosen per file.

Usage: scripts/nab_cv.py [--preset general|runtime] [--grid NAME=V1,V2,... ...] [NAB_ROOT] [WORK_DIR]
  NAB_ROOT   default $NAB, else ../shared/data/nab
  WORK_DIR   default target/nab/cv (one results directory per parameter set)
The scorer is $NAB_SCORE (default ../shared/tools/nab_score.py); the binary
target/release/tidepool (make nab-cv builds it).
"""
import concurrent.futures, importlib.util, itertools, json, os, subprocess, sys

# The default grid: the parameters the NAB score moves most with (BENCHMARKS.md),
# each at the default (middle) and either side of it.
GRID = {
    "holdoff": ["50", "100", "200"],
    "extreme_margin": ["0.04", "0.08", "0.16"],
    "alert_tail": ["1e-4", "1e-5", "1e-6"],
    "level_alpha": ["0.001", "0.003", "0.01"],
}


def load_scorer():
    path = os.environ.get("NAB_SCORE", "../shared/tools/nab_score.py")
    spec = importlib.util.spec_from_file_location("nab_score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    args = sys.argv[1:]
    preset, grid = "general", dict(GRID)
    custom = {}
    while args and args[0].startswith("--"):
        flag = args.pop(0)
        if flag == "--preset":
            preset = args.pop(0)
        elif flag == "--grid":
            name, values = args.pop(0).split("=", 1)
            custom[name] = values.split(",")
        else:
            sys.exit("nab_cv: unknown flag %s" % flag)
    if custom:
        grid = custom
    root = args[0] if args else os.environ.get("NAB", "../shared/data/nab")
    work = args[1] if len(args) > 1 else "target/nab/cv"
    binary = "target/release/tidepool"
    nab = load_scorer()
    data, windows = nab.load_corpus(root)
    profile = nab.PROFILES["standard"]
    n_windows = sum(len(v) for v in windows.values())

    names = list(grid)
    sets = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]

    def run(k, params):
        out = os.path.join(work, "set%03d" % k)
        for rel in data:
            category, name = os.path.split(rel)
            os.makedirs(os.path.join(out, category), exist_ok=True)
            cmd = [binary, "detect", os.path.join(root, "data", rel), "--force", "--preset", preset,
                   "--out", os.path.join(out, category, "tidepool_" + name)]
            for key, value in params.items():
                cmd += ["--set", "%s=%s" % (key, value)]
            subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        raw = {}
        for rel, rows in data.items():
            stamps = [t for t, _ in rows]
            points = nab.sweep_points(stamps, nab.load_results(out, "tidepool", rel), windows[rel], rel, profile)
            raw[rel] = nab.score_at(points, profile, 0.5)[1]
        return raw

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        raws = list(pool.map(lambda kp: run(*kp), enumerate(sets)))

    def normalised(raw):
        return 100.0 * (raw + n_windows) / (2.0 * n_windows)

    def total(k, files):
        return sum(raws[k][rel] for rel in files)

    categories = sorted({rel.split("/")[0] for rel in data})
    default = next(k for k, s in enumerate(sets)
                   if all(s[n] == grid[n][len(grid[n]) // 2] for n in names))
    best = max(range(len(sets)), key=lambda k: total(k, data))
    report = {"preset": preset, "grid": grid, "parameter_sets": len(sets), "windows": n_windows,
              "in_sample_default": {"params": sets[default], "score": normalised(total(default, data))},
              "in_sample_best": {"params": sets[best], "score": normalised(total(best, data))},
              "folds": []}
    cv_raw = 0.0
    for held_out in categories:
        inside = [rel for rel in data if rel.split("/")[0] == held_out]
        others = [rel for rel in data if rel.split("/")[0] != held_out]
        chosen = max(range(len(sets)), key=lambda k: total(k, others))
        cv_raw += total(chosen, inside)
        report["folds"].append({"held_out": held_out, "chosen": sets[chosen],
                                "held_out_raw": round(total(chosen, inside), 3),
                                "default_raw": round(total(default, inside), 3),
                                "best_in_sample_raw": round(total(best, inside), 3)})
    report["cross_validated"] = normalised(cv_raw)
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "cv.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("nab-cv: %d parameter sets (%s), preset %s, %d windows"
          % (len(sets), ", ".join("%s %s" % (n, "/".join(grid[n])) for n in names), preset, n_windows))
    print("nab-cv: in-sample, the grid's middle (%s): %.2f"
          % (", ".join("%s=%s" % kv for kv in sets[default].items()), report["in_sample_default"]["score"]))
    print("nab-cv: in-sample, the grid's best on all (%s): %.2f"
          % (", ".join("%s=%s" % kv for kv in sets[best].items()), report["in_sample_best"]["score"]))
    print("nab-cv: leave-one-category-out cross-validated: %.2f" % report["cross_validated"])
    for fold in report["folds"]:
        print("  %-22s chosen %-70s held-out raw %7.3f (middle %7.3f)"
              % (fold["held_out"], ", ".join("%s=%s" % kv for kv in fold["chosen"].items()),
                 fold["held_out_raw"], fold["default_raw"]))


if __name__ == "__main__":
    main()
