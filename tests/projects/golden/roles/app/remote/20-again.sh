#!/bin/sh
echo again >> app.out
