#!/bin/sh
# Write the status file that the controller fetches and checks.
set -eu
{
    echo "host=$RORUNNER_HOST"
    echo "conf=$(cksum < app/app.conf | cut -d ' ' -f 1)"
    grep '^listen=' app/app.conf
} > app/status.txt
