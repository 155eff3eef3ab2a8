"""`python -m parcours.compiler.cli` runs the command line."""

from . import main

main()
