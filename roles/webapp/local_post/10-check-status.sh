#!/bin/sh
# Check what came back from this host.
set -eu
status="$RORUNNER_FETCH_DIR/app/status.txt"
test -s "$status" || { echo "$RORUNNER_HOST: no status fetched" >&2; exit 1; }
grep -qx "host=$RORUNNER_HOST" "$status" || { echo "$RORUNNER_HOST: wrong host in $status" >&2; exit 1; }
grep -q "^listen=.*:$app_port\$" "$status" || { echo "$RORUNNER_HOST: wrong port" >&2; exit 1; }
echo "$RORUNNER_HOST: app status ok"
