"""Reading inventory files safely: size limits, strict UTF-8, YAML with positions, CSV rows."""

from __future__ import annotations

import csv
import errno
import functools
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camkit.diagnostics import Diagnostic, Position

try:  # libyaml is an order of magnitude faster on city-scale inventories
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml ships in the PyYAML wheels we pin
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_YAML_BYTES = 1 << 20  # 1 MiB: a site file is a few lines; more means a mistake or an attack
MAX_CSV_BYTES = 64 << 20  # 64 MiB: the biggest camera registry is a few MB
MAX_YAML_NODES = 100_000  # bounds alias expansion ("billion laughs")
MAX_YAML_DEPTH = 32  # an inventory document nests 6 levels; hundreds exhaust the parser's recursion

PathKey = tuple[str | int, ...]

# control characters (newline, tab, escape), the C1 set, line/paragraph separators, zero-width and bidi controls:
# inventory text reaches YAML, Pulumi stacks, switch configs and terminals, where each can forge or hide a line
_INVISIBLE = r"\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff"
CONTROL = re.compile(r"[\x00-\x1f" + _INVISIBLE + "]")
CONTROL_HINT = "no newlines, tabs, escape codes or invisible controls in inventory text"
_CONTROL_IN_CSV = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f" + _INVISIBLE + "]")  # line ends: the reader's


@dataclass
class Document:
    """Plain data read from one YAML file, plus where each value and key came from."""

    file: str
    data: Any
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def position(self, path: PathKey, key: bool = False) -> Position:
        """The position of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        path = tuple(path)
        while path:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), Position(self.file, 1, 1))


class SourceError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        super().__init__(str(diagnostic))


@functools.lru_cache(maxsize=4096)
def _resolved(folder: str) -> Path:
    return Path(folder).resolve()


def display_name(path: Path, root: Path | None) -> str:
    """Paths in messages are relative to the working directory when possible (the file's own name is kept, not a
    link's target: inventory files are never followed). Folders are resolved once: a city has thousands of files."""
    try:
        return str((_resolved(str(path.parent)) / path.name).relative_to(_resolved(os.getcwd())))
    except ValueError:
        return str(path)


def read_text(path: Path, limit: int, name: str) -> str:
    """Read a regular file as strict UTF-8 under a size limit, or raise one clear SourceError.

    Inventory files come from pull requests: a symbolic link (it could point anywhere on the machine), a FIFO or a
    device (reading one blocks for ever) is refused before a byte is read, and never more than `limit` is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError(Diagnostic(Position(name), "file is a symbolic link",
                                         "commit the file itself: inventory files must be regular files")) from exc
        raise SourceError(Diagnostic(Position(name), f"cannot read file: {exc.strerror}")) from exc
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(Diagnostic(Position(name), "not a regular file (a FIFO, socket, device or folder)",
                                         "commit a regular file under this name"))
        if st.st_size > limit:
            raise SourceError(
                Diagnostic(
                    Position(name),
                    f"file is {st.st_size} bytes, over the {limit} byte limit for this kind of file",
                    "split it (one site per file, one camera CSV per site)",
                )
            )
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise SourceError(Diagnostic(Position(name), f"file grew over the {limit} byte limit while being read"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError(
            Diagnostic(
                Position(name, line, column),
                f"invalid UTF-8 byte 0x{raw[exc.start]:02x}",
                "save the file as UTF-8 (Vietnamese names must be UTF-8, not TCVN3/VNI/cp1258)",
            )
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise SourceError(Diagnostic(Position(name, 1, 1), "file is empty", "remove it or add its content"))
    return text


def _pos(name: str, mark: Any) -> Position:
    return Position(name, mark.line + 1, mark.column + 1)


def depth_check(text: str, name: str) -> None:
    """Refuse a document nested deeper than MAX_YAML_DEPTH before it is composed (composing recurses). Only
    documents that could nest that deep (many brackets, or deep indentation) are scanned, event by event."""
    if text.count("[") + text.count("{") <= MAX_YAML_DEPTH and "\n" + " " * (2 * MAX_YAML_DEPTH) not in text \
            and "\n" + "- " * MAX_YAML_DEPTH not in text:
        return
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise SourceError(Diagnostic(_pos(name, event.start_mark),
                                                 f"values nested more than {MAX_YAML_DEPTH} levels deep",
                                                 "an inventory document nests a few levels: flatten it"))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # the composer reports the syntax error with its position


def load_yaml(path: Path, name: str) -> Document:
    text = read_text(path, MAX_YAML_BYTES, name)
    depth_check(text, name)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _pos(name, mark) if mark else Position(name)
        what = exc.problem or exc.context or "invalid YAML"
        raise SourceError(Diagnostic(where, f"YAML syntax error: {what}", "fix the indentation or quoting here")) from exc
    except yaml.YAMLError as exc:
        raise SourceError(Diagnostic(Position(name), f"YAML error: {exc}")) from exc
    if node is None:
        raise SourceError(Diagnostic(Position(name, 1, 1), "file holds no YAML document"))
    doc = Document(name, None)
    builder = _Builder(name, doc)
    doc.data = builder.build(node, ())
    return doc


class _Builder:
    """Turns a composed YAML node tree into plain data, recording positions and limits."""

    def __init__(self, name: str, doc: Document):
        self.name = name
        self.doc = doc
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_YAML_NODES:
            raise SourceError(
                Diagnostic(
                    _pos(self.name, node.start_mark),
                    f"document expands to more than {MAX_YAML_NODES} values (YAML alias bomb?)",
                    "inventories must not multiply values through anchors and aliases",
                )
            )
        self.doc.values.setdefault(path, _pos(self.name, node.start_mark))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise SourceError(
                        Diagnostic(_pos(self.name, key_node.start_mark), "YAML merge keys ('<<') are not supported",
                                   "use a site profile for shared defaults")
                    )
                if not isinstance(key_node, yaml.ScalarNode):
                    raise SourceError(Diagnostic(_pos(self.name, key_node.start_mark), "mapping keys must be plain strings"))
                key = key_node.value
                if key in out:
                    raise SourceError(
                        Diagnostic(
                            _pos(self.name, key_node.start_mark),
                            f"duplicate key '{key}'",
                            f"it is already set at line {self.doc.keys[path + (key,)].line}",
                        )
                    )
                self.doc.keys[path + (key,)] = _pos(self.name, key_node.start_mark)
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise SourceError(Diagnostic(_pos(self.name, node.start_mark), f"bad YAML value: {exc}")) from exc


@dataclass
class CsvTable:
    file: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line number, row without empty cells, values stripped)


def load_csv(path: Path, name: str, required: list[str], optional: list[str]) -> CsvTable:
    """Read a camera registry; header names must be known, rows must have the header's width."""
    text = read_text(path, MAX_CSV_BYTES, name)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise SourceError(Diagnostic(Position(name, 1, 1), f"cannot read CSV header: {exc}")) from exc
    allowed = required + optional
    problems: list[Diagnostic] = []
    for i, col in enumerate(header):
        if col not in allowed:
            from camkit.diagnostics import suggest

            problems.append(Diagnostic(Position(name, 1, i + 1), f"unknown column '{col}'", suggest(col, allowed)))
    missing = [c for c in required if c not in header]
    if missing:
        problems.append(Diagnostic(Position(name, 1, 1), f"missing required column(s): {', '.join(missing)}",
                                   "the header must name every required column"))
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        problems.append(Diagnostic(Position(name, 1, 1), f"duplicate column(s): {', '.join(dupes)}"))
    if problems:
        raise SourceError(problems[0]) if len(problems) == 1 else _MultiSourceError(problems)
    if m := _CONTROL_IN_CSV.search(text):  # one scan of the file; newlines inside a cell: below
        line = text.count("\n", 0, m.start()) + 1
        column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        raise SourceError(Diagnostic(Position(name, line, column), f"character {m.group()!r} is not allowed",
                                     CONTROL_HINT))
    rows: list[tuple[int, dict[str, str]]] = []
    width = len(header)
    try:
        last = reader.line_num
        for record in reader:
            line = reader.line_num
            if line - last > 1:  # a quoted cell went on over a line break
                problems.append(Diagnostic(Position(name, last + 1, 1), "a cell holds a line break", CONTROL_HINT))
                last = line
                continue
            last = line
            if not record or all(not f.strip() for f in record):
                continue
            if len(record) != width:
                problems.append(Diagnostic(Position(name, line, 1),
                                           f"row has {len(record)} fields, the header has {width}",
                                           "quote fields that contain commas"))
                continue
            rows.append((line, {h: s for h, v in zip(header, record) if v and (s := v.strip())}))
    except csv.Error as exc:
        problems.append(Diagnostic(Position(name, reader.line_num, 1), f"CSV syntax error: {exc}"))
    if problems:
        raise _MultiSourceError(problems)
    return CsvTable(name, header, rows)


class _MultiSourceError(SourceError):
    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__(diagnostics[0])


def diagnostics_of(exc: SourceError) -> list[Diagnostic]:
    return list(getattr(exc, "diagnostics", [exc.diagnostic]))
