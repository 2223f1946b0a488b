#!/usr/bin/env bash
# Scores `tidepool detect` on the Numenta Anomaly Benchmark (NAB) at the fixed
# threshold 0.5 (standard profile, per category).
#
# Usage: scripts/nab.sh [NAB_ROOT] [RESULTS_DIR]
#   NAB_ROOT     holds data/<category>/<file>.csv and labels/combined_windows.json
#                (default: $NAB, else ../shared/data/nab)
#   RESULTS_DIR  where the scores go (default: target/nab/results)
# $PRESET picks `tidepool detect --preset` (default: general).
# The scorer is $NAB_SCORE (default: ../shared/tools/nab_score.py).
set -euo pipefail
cd "$(dirname "$0")/.."

nab="${1:-${NAB:-../shared/data/nab}}"
results="${2:-target/nab/results}"
scorer="${NAB_SCORE:-../shared/tools/nab_score.py}"

if [ ! -d "$nab/data" ] || [ ! -f "$nab/labels/combined_windows.json" ]; then
    echo "nab: no NAB corpus at $nab (need data/ and labels/combined_windows.json); set NAB=DIR" >&2
    exit 1
fi
if [ ! -f "$scorer" ]; then
    echo "nab: no scorer at $scorer; set NAB_SCORE=FILE" >&2
    exit 1
fi

cargo build --release --quiet --bin tidepool
bin=target/release/tidepool

rm -rf "$results"
rows=0
start=$(date +%s.%N)
for csv in "$nab"/data/*/*.csv; do
    category=$(basename "$(dirname "$csv")")
    mkdir -p "$results/$category"
    "$bin" detect "$csv" --preset "${PRESET:-general}" --force --out "$results/$category/tidepool_$(basename "$csv")"
    rows=$((rows + $(wc -l < "$csv") - 1))
done
end=$(date +%s.%N)
awk -v r="$rows" -v a="$start" -v b="$end" \
    'BEGIN { printf "nab: scored %d rows in %.2f s (%.0f rows/s, process start-up included)\n", r, b - a, r / (b - a) }'

python3 "$scorer" "$nab" "$results" tidepool --threshold 0.5 --by-category > "$results/score.txt"
python3 - "$results/score.txt" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
cut = text.find("category")
res = json.loads(text[:cut] if cut >= 0 else text)
s = res["standard"]
print("nab: standard profile at threshold 0.5: %.2f (raw %.2f; tp rows %d, fp rows %d)"
      % (s["normalized"], s["raw"], s["tp"], s["fp"]))
print(text[cut:] if cut >= 0 else "", end="")
PY
