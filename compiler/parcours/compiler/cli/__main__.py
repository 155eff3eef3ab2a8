"""`python -m parcours.compiler.cli` runs the command line."""

from .entry import main

main()
