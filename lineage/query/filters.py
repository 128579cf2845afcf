"""The ``find`` filter language, translated to ML Metadata filter queries.

A filter is clauses joined by ``and``::

    lr > 0.05 and optimizer = 'adam'
    uri ~ '%reviews%' and state = LIVE
    blessed = true and model_name in ('reviews', 'cuisine')

- a **field** is ``id``, ``uri``, ``name``, ``type``, ``state`` or any property (declared or
  custom: lineage finds out which, and whether a number is stored as int or float);
- **operators**: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~`` (SQL LIKE, ``%`` wildcard),
  ``in (v1, v2, ...)``;
- **values**: numbers, ``'quoted'`` or ``"quoted"`` strings, ``true``/``false``, and bare words
  (for states such as ``COMPLETE``).

``or`` is refused: MLMD joins each property it filters on, so an ``or`` across two properties
silently matches nothing. Run two finds instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any, List, Optional, Tuple

from ..errors import InvalidInput
from ..store import Store
from ..values import stored_double
from ..vocab import ARTIFACT_STATES, EXECUTION_STATES, quote

__all__ = ["Clause", "parse_filter", "to_mlmd", "matches", "numeric"]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>-?\d+\.\d*(?:[eE][-+]?\d+)?|-?\d*\.\d+(?:[eE][-+]?\d+)?|-?\d+(?:[eE][-+]?\d+)?)
     |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
     |(?P<op><=|>=|!=|=|<|>|~)
     |(?P<punct>[(),])
     |(?P<word>[A-Za-z_][A-Za-z0-9_.:\-]*)
    )""", re.X)

_ATTRS = {"id", "uri", "name", "type", "state"}
_OPS = {"=", "!=", "<", "<=", ">", ">=", "~", "in"}
_HELP = ("write clauses such as lr > 0.05 and optimizer = 'adam' (fields: id, uri, name, type, "
         "state or a property; operators = != < <= > >= ~ in)")


@dataclasses.dataclass(frozen=True)
class Clause:
    field: str
    op: str
    values: Tuple[Any, ...]  # one value, or several for `in`


def _tokens(text: str) -> List[Tuple[str, Any, int]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidInput(f"filter {text!r}: cannot read {text[pos:].strip()[:20]!r} "
                               f"at position {pos}; {_HELP}")
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "num":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "str":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        else:
            value = raw
        out.append((kind, value, m.start(kind)))
        pos = m.end()
    return out


def _value(tok: Tuple[str, Any, int]) -> Any:
    kind, value, _ = tok
    if kind in ("num", "str"):
        return value
    if kind == "word":
        low = value.lower()
        if low in ("true", "false"):
            return low == "true"
        return _Bare(value)
    raise InvalidInput(f"expected a value, found {value!r}; {_HELP}")


class _Bare(str):
    """An unquoted word used as a value (a state name such as COMPLETE)."""


def parse_filter(text: str) -> List[Clause]:
    """Parse a filter into clauses; a malformed one is an InvalidInput naming the problem."""
    if not text or not text.strip():
        return []
    toks = _tokens(text)
    clauses: List[Clause] = []
    i = 0
    while i < len(toks):
        kind, field, pos = toks[i]
        if kind != "word" or field.lower() in ("and", "or", "in", "not"):
            raise InvalidInput(f"filter {text!r}: expected a field name at position {pos}, found "
                               f"{field!r}; {_HELP}")
        if i + 1 >= len(toks):
            raise InvalidInput(f"filter {text!r}: {field!r} needs an operator and a value; {_HELP}")
        okind, op, opos = toks[i + 1]
        op = op.lower() if okind == "word" else op
        if okind not in ("op", "word") or op not in _OPS:
            raise InvalidInput(f"filter {text!r}: expected an operator after {field!r} at position "
                               f"{opos}, found {op!r}; {_HELP}")
        i += 2
        if op == "in":
            values, i = _in_list(text, field, toks, i)
            clauses.append(Clause(field, "in", values))
        else:
            if i >= len(toks):
                raise InvalidInput(f"filter {text!r}: {field} {op} needs a value; {_HELP}")
            clauses.append(Clause(field, op, (_value(toks[i]),)))
            i += 1
        if i < len(toks):
            kind, word, pos = toks[i]
            if kind == "word" and word.lower() == "or":
                raise InvalidInput(
                    f"filter {text!r}: `or` is not supported: ML Metadata joins each property a "
                    f"filter names, so an `or` across properties matches nothing. Run two finds."
                )
            if kind != "word" or word.lower() != "and":
                raise InvalidInput(f"filter {text!r}: expected `and` at position {pos}, found {word!r}")
            i += 1
            if i >= len(toks):
                raise InvalidInput(f"filter {text!r}: nothing after the last `and`")
    return clauses


def _in_list(text: str, field: str, toks: List[Tuple[str, Any, int]], i: int) -> Tuple[Tuple[Any, ...], int]:
    """The values of ``field in (a, b, ...)`` starting at token ``i``, and the token after it."""
    if i >= len(toks) or toks[i][1] != "(":
        raise InvalidInput(f"filter {text!r}: `in` takes a list: {field} in ('a', 'b')")
    values, i = [], i + 1
    while True:
        if i >= len(toks):
            raise InvalidInput(f"filter {text!r}: the list after `in` is not closed with ')'")
        values.append(_value(toks[i]))
        i += 1
        if i >= len(toks):
            raise InvalidInput(f"filter {text!r}: the list after `in` is not closed with ')'")
        if toks[i][1] == ",":
            i += 1
            continue
        if toks[i][1] == ")":
            return tuple(values), i + 1
        raise InvalidInput(f"filter {text!r}: expected ',' or ')' in the `in` list")


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return quote(v)


def _sql_op(op: str) -> str:
    return {"~": "LIKE", "in": "IN"}.get(op, op)


def _rhs(clause: Clause, convert=lambda v: v) -> str:
    if clause.op == "in":
        return "(" + ", ".join(_literal(convert(v)) for v in clause.values) + ")"
    return _literal(convert(clause.values[0]))


_STATES = {"artifact": ARTIFACT_STATES, "execution": EXECUTION_STATES}


def to_mlmd(clauses: List[Clause], kind: str, store: Store,
            type_name: Optional[str] = None) -> Optional[str]:
    """The MLMD filter query for ``clauses`` on ``kind`` nodes (``None`` if no clauses).

    Properties are resolved against what the store holds: declared or custom, and which value
    column (int, double, string, bool). A property no node holds in a compatible column makes
    the whole filter match nothing, which is returned as ``"id < 0"``.
    """
    parts: List[str] = []
    for c in clauses:
        field = c.field
        if field in _ATTRS:
            if field == "state":
                names = [str(v).upper() for v in c.values]
                for n in names:
                    if n not in _STATES.get(kind, ()):
                        raise InvalidInput(f"unknown {kind} state {n!r}; use one of "
                                           f"{', '.join(_STATES[kind])}")
                col = "last_known_state" if kind == "execution" else "state"
                if c.op not in ("=", "!=", "in"):
                    raise InvalidInput("state takes =, != or in")
                rhs = f"({', '.join(names)})" if c.op == "in" else names[0]
                parts.append(f"{col} {_sql_op(c.op)} {rhs}")
            elif field == "id":
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in c.values):
                    raise InvalidInput("id takes whole numbers")
                parts.append(f"id {_sql_op(c.op)} {_rhs(c)}")
            else:
                parts.append(f"{field} {_sql_op(c.op)} {_rhs(c, str)}")
            continue
        column = _resolve(store, kind, type_name, field, c.values)
        if column is None:
            return "id < 0"
        if column.endswith("double_value"):
            parts.append(_double_range(column, c))
        else:
            parts.append(f"{column} {_sql_op(c.op)} {_rhs(c)}")
    if type_name:
        parts.insert(0, f"type = {_literal(type_name)}")
    return " AND ".join(parts) if parts else None


def _bounds(t: float) -> Tuple[str, str]:
    """The lowest and highest value a double column may hold for ``t`` (ML Metadata keeps 6
    decimals, see :func:`lineage.values.stored_double`), as filter literals."""
    both = (float(f"{t:.6f}"), stored_double(t))
    return _number(min(both)), _number(max(both))


def _number(x: float) -> str:
    return f"{x:.6f}" if abs(x) < 1e15 else repr(x)


def _double_range(column: str, c: Clause) -> str:
    """A condition on a double column that every node matching ``c`` exactly also matches (the
    column holds rounded values); :func:`matches` then compares exact values."""
    values = [float(v) for v in c.values]
    if c.op in (">", ">="):
        return f"{column} >= {_bounds(values[0])[0]}"
    if c.op in ("<", "<="):
        return f"{column} <= {_bounds(values[0])[1]}"
    if c.op == "=":
        lo, hi = _bounds(values[0])
        return f"{column} >= {lo} AND {column} <= {hi}"
    if c.op == "in":
        return f"{column} IN ({', '.join(sorted({b for v in values for b in _bounds(v)}))})"
    return f"{column} IS NOT NULL"  # != and ~ : decided on the exact values


_COMPARE = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def numeric(c: Clause) -> bool:
    """Whether ``c`` compares a property with numbers (decided on exact values by :func:`matches`)."""
    return c.field not in _ATTRS and c.op != "~" and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in c.values)


def matches(record: Any, clauses: List[Clause]) -> bool:
    """Whether a record's exact values satisfy the numeric clauses (the others were exact in
    ML Metadata already)."""
    for c in clauses:
        if not numeric(c):
            continue
        value = record.get(c.field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if c.op == "in":
            if value not in c.values:
                return False
        elif not _COMPARE[c.op](value, c.values[0]):
            return False
    return True


def _columns_for(values: Tuple[Any, ...]) -> List[str]:
    if all(isinstance(v, bool) for v in values):
        return ["bool_value"]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if all(isinstance(v, int) for v in values):
            return ["int_value", "double_value"]
        return ["double_value"]
    return ["string_value"]


def _resolve(store: Store, kind: str, type_name: Optional[str], field: str,
             values: Tuple[Any, ...]) -> Optional[str]:
    if re.fullmatch(r"tags\.[A-Za-z_][A-Za-z0-9_.\-]*", field):
        name = f"`{field}`"  # a tag (lineage tag): MLMD takes a dotted name in backquotes
    elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
        name = field
    else:
        raise InvalidInput(f"{field!r} is not a property name")
    lister = store.list_artifacts if kind == "artifact" else store.list_executions
    type_clause = f"type = {_literal(type_name)} AND " if type_name else ""
    for column in _columns_for(values):
        for where in ("properties", "custom_properties"):
            candidate = f"{where}.{name}.{column}"
            if lister(filter_query=f"{type_clause}{candidate} IS NOT NULL", limit=1):
                return candidate
    if type_name and field in store.type_properties(kind, type_name):
        return None  # declared: nothing holds a value of that kind yet
    for column in ("int_value", "double_value", "string_value", "bool_value"):
        for where in ("properties", "custom_properties"):
            if lister(filter_query=f"{type_clause}{where}.{name}.{column} IS NOT NULL", limit=1):
                return None  # the property exists, with values of another kind: nothing matches
    seen = set(store.type_properties(kind, type_name)) if type_name else set()
    for node in lister(filter_query=type_clause[:-5] or None, limit=200):
        seen.update(node.properties)
        seen.update(node.custom_properties)
    close = difflib.get_close_matches(field, sorted(seen), n=3, cutoff=0.6)
    hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
    raise InvalidInput(f"no {type_name or kind} in {store.config.redacted()} has a property {field!r}{hint}")
