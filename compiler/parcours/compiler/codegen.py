"""placeholder"""
from . import ir
def generate(program: ir.Program) -> str:
    return ""
