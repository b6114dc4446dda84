"""`python -m rorunner`."""

from rorunner.cli import main

main()
