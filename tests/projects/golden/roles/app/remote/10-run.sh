#!/bin/sh
echo run > app.out
