"""placeholder"""
from . import ir
from .diagnostics import Diagnostic
def verify_program(program: ir.Program) -> list[Diagnostic]:
    return []
