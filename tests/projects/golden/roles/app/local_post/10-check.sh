#!/bin/sh
test -f "$RORUNNER_FETCH_DIR/app.out"
