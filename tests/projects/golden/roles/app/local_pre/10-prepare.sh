#!/bin/sh
echo pre "$RORUNNER_HOST"
