"""Records: the runtime's small classes with slots, written out rather than made by
`dataclasses`, which (with `inspect`, `ast`, `dis` and `tokenize` behind it) took longer to
import, and its classes longer to create, than a one-episode `parcours decide` took to run.

A record class lists its fields, in order, as its `__slots__`, and writes its own
`__init__` (plain assignments, or `self._fill(...)` for a frozen one).  `Record` gives it
what `@dataclass(slots=True)` gave: `__repr__` (`Name(a=1, b='x')`), `__eq__` (same class,
same fields; `NotImplemented` for another class) and no hash; `Frozen` adds what
`frozen=True` gave: assigning or deleting a field raises `FrozenError` (an
`AttributeError`), equal records hash alike, and pickling and copying restore the fields
without assigning them.  Fields named in `_hidden` are neither shown nor compared (a
value the class computes from its others).
"""

from __future__ import annotations

from typing import ClassVar, NoReturn


class FrozenError(AttributeError):
    """An assignment to, or a deletion of, a field of a frozen record."""


class Record:
    __slots__: ClassVar[tuple[str, ...]] = ()
    _hidden: ClassVar[tuple[str, ...]] = ()  # neither shown by repr nor compared
    _compared: ClassVar[tuple[str, ...]] = ()  # set per class: __slots__ less _hidden

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._compared = tuple(name for name in cls.__slots__ if name not in cls._hidden)

    def _values(self) -> tuple[object, ...]:
        return tuple([getattr(self, name) for name in self._compared])

    def __repr__(self) -> str:
        shown = ", ".join([f"{name}={getattr(self, name)!r}" for name in self._compared])
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Record):
            return NotImplemented
        return self._values() == other._values()


class Frozen(Record):
    __slots__: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise FrozenError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise FrozenError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())

    def _fill(self, *values: object) -> None:
        """Each field, in the order of `__slots__`, set past the read-only `__setattr__`:
        what a record's `__init__` and unpickling call."""
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __getstate__(self) -> tuple[object, ...]:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self._fill(*state)
