#!/bin/sh
# Print a one-line health summary of this host (used by the monitor role).
set -eu
load=$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo unknown)
up=$(cut -d ' ' -f 1 /proc/uptime 2>/dev/null || echo unknown)
echo "load=$load uptime=$up"
