#!/bin/sh
# Refuse a port that is not a number before anything is shipped.
set -eu
case "$app_port" in
    ''|*[!0-9]*) echo "app_port must be a number, got '$app_port'" >&2; exit 1 ;;
esac
echo "webapp $app_name on port $app_port for $RORUNNER_HOST"
