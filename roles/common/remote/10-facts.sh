#!/bin/sh
# Record basic facts about the host in the work dir.
set -eu
{
    echo "host=$RORUNNER_HOST"
    echo "address=$RORUNNER_ADDRESS"
    echo "kernel=$(uname -s)"
    echo "user=$(id -un)"
} > facts.txt
test -x bin/health.sh
