#!/bin/sh
# "Install" the app: lay out its files in app/ under the work dir.
set -eu
mkdir -p app
cp app.conf index.html app/
chmod 0640 app/app.conf
