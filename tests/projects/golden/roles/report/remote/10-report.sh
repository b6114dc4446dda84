#!/bin/sh
echo "$report_name"
