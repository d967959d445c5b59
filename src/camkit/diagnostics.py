"""Inventory problems as data: where (file:line:col), what is wrong, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, order=True)
class Position:
    """A place in an inventory file; line and column are 1-based, 0 means unknown."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file


@dataclass(frozen=True, order=True)
class Diagnostic:
    position: Position
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.position}: {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.position.file,
            "line": self.position.line,
            "column": self.position.column,
            "message": self.message,
            "hint": self.hint,
        }


EX_INVALID = 2  # the inventory (or a file it names) is invalid
EX_USAGE = 64  # sysexits.h EX_USAGE: the command line is wrong (an unknown option, site, camera or family)
EX_CANTCREAT = 73  # sysexits.h EX_CANTCREAT: an output could not be written (not a folder, read-only, disk full)
EX_IOERR = 74  # sysexits.h EX_IOERR: another system error (a file or socket the command needed)
EX_UNAVAILABLE = 69  # sysexits.h EX_UNAVAILABLE: a program or package the command runs is missing or did not run


@dataclass(frozen=True)
class Finding:
    """A rule a valid inventory breaks (capacity, planning): a warning, a failure under `validate --strict`."""

    rule: str
    site: str  # "" for a city-wide finding
    diagnostic: Diagnostic

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "site": self.site, "severity": "warning", **self.diagnostic.as_dict()}


class InventoryError(Exception):
    """Raised with every problem found, never only the first."""

    exit_code = EX_INVALID

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics), key=_sort_key)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    def __reduce__(self):  # a forked render process raises it in the parent (pickled): keep the diagnostics
        return (type(self), (self.diagnostics,))


class UsageProblem(InventoryError):
    """The command line names something the inventory does not have (`--site`, `--only`, a camera or unit):
    reported like an inventory problem, but with its own exit status so CI can tell the two apart."""

    exit_code = EX_USAGE


def _sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.position.file, d.position.line, d.position.column, d.message)


@dataclass
class Collector:
    """Gathers diagnostics during a pass; `raise_if_any` ends the pass."""

    root: Path | None = None
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, position: Position, message: str, hint: str = "") -> None:
        self.items.append(Diagnostic(position, message, hint))

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    def raise_if_any(self) -> None:
        if self.items:
            raise InventoryError(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def closest(value: str, known: list[str] | set[str]) -> list[str]:
    """The known values nearest to a misspelled one, best first (at most 3)."""
    import difflib

    return difflib.get_close_matches(value, sorted(known), n=3, cutoff=0.6)


def suggest(value: str, known: list[str] | set[str], limit: int = 8) -> str:
    """A fix hint listing the closest allowed values, for 'x is not a y' errors."""
    known_sorted = sorted(known)
    close = closest(value, known_sorted)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    if not known_sorted:
        return "none are defined"
    shown = ", ".join(known_sorted[:limit])
    more = f" (+{len(known_sorted) - limit} more)" if len(known_sorted) > limit else ""
    return f"known: {shown}{more}"
