#!/bin/sh
echo post "$RORUNNER_HOST"
