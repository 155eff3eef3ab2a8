"""The parcours grammar, shipped as data (``parcours.lark``)."""

from importlib.resources import files

__all__ = ["grammar_text"]


def grammar_text() -> str:
    """Return the Lark grammar of the parcours language."""
    return files(__package__).joinpath("parcours.lark").read_text(encoding="utf-8")
