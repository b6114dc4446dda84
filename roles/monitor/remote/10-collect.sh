#!/bin/sh
# Take a few health samples with the helper shipped by `common`.
set -eu
mkdir -p report
: > report/health.txt
i=0
while [ "$i" -lt "$samples" ]; do
    ./bin/health.sh >> report/health.txt
    i=$((i + 1))
done
