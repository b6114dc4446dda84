"""Tests for rorunner; `tests.lab` is the sshd lab they run against."""
