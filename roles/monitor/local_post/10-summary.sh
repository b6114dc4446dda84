#!/bin/sh
# Summarise this host's fetched report next to it.
set -eu
dir="$RORUNNER_FETCH_DIR/report"
lines=$(wc -l < "$dir/health.txt")
test "$lines" -eq "$samples" || { echo "$RORUNNER_HOST: $lines samples, expected $samples" >&2; exit 1; }
grep -qx "host=$RORUNNER_HOST" "$dir/facts.txt"
echo "$RORUNNER_HOST: $lines health samples" > "$dir/summary.txt"
cat "$dir/summary.txt"
