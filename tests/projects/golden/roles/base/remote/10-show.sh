#!/bin/sh
set -eu
cat etc/base.conf
