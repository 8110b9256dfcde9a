"""Declarative segments: a small JSON/YAML filter language compiled to SQLAlchemy and to Polars.

A definition is one clause; a clause is a mapping with one of these keys::

    and: [clause, ...]            or: [clause, ...]            not: clause
    field: country, op: eq, value: DE        # ops: eq ne lt lte gt gte in not_in between
                                             #      contains starts_with is_null not_null
    tags: {contains: vip} | {any: [a, b]} | {all: [a, b]} | {none: [a, b]}
    lifecycle_stage: lead | [lead, mql]      tier: gold | [gold, platinum]
    score: {gte: 10, lt: 50}                 # engagement score range (gt gte lt lte)
    last_activity: {within_days: 30} | {older_than_days: 90, include_never: true} | {never: true}

A file may also wrap the clause as ``{description: ..., where: clause}``. Errors name the path of
the bad clause, e.g. ``and[1].field: unknown field 'contry' (did you mean 'country'?)``. Both
backends keep SQL's three-valued logic (a comparison with a missing value is not a match, not
even under ``not``), so a segment selects the same contacts in the store and in a Polars frame.
"""

from __future__ import annotations

import difflib
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from sqlalchemy import Boolean, ColumnElement, and_, bindparam, false, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from aicmo.errors import InputError
from aicmo.models.analytics import TIERS
from aicmo.models.base import utcnow
from aicmo.models.crm import LIFECYCLE_STAGES, Contact


class SegmentError(InputError):
    """An invalid segment definition; the message starts with the path of the bad clause."""


FIELD_TYPES: dict[str, type] = {
    **dict.fromkeys(
        (
            "email",
            "first_name",
            "last_name",
            "phone",
            "company_name",
            "city",
            "country",
            "source",
            "lifecycle_stage",
            "tier",
            "email_consent",
            "sms_consent",
            "push_consent",
            "suppression_reason",
            "rfm_segment",
        ),
        str,
    ),
    **dict.fromkeys(("engagement_score", "historical_ltv", "predicted_ltv", "p_alive"), float),
    **dict.fromkeys(("id", "company_id"), int),
    "suppressed": bool,
    **dict.fromkeys(
        (
            "created_at",
            "updated_at",
            "enriched_at",
            "last_activity_at",
            "lifecycle_changed_at",
            "scored_at",
            "tier_changed_at",
        ),
        datetime,
    ),
}
ORDER_OPS = ("lt", "lte", "gt", "gte")
OPS = ("eq", "ne", *ORDER_OPS, "in", "not_in", "between", "contains", "starts_with", "is_null", "not_null")
CLAUSE_KEYS = ("and", "or", "not", "field", "tags", "lifecycle_stage", "tier", "score", "last_activity")
FRAME_COLUMNS = (*FIELD_TYPES, "tags")


# ---- the checked form ------------------------------------------------------------------------
@dataclass(frozen=True)
class Cmp:
    """``field op value`` after checking."""

    field: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Tags:
    """Tag membership: ``any`` of the tags, ``all`` of them, or ``none`` of them."""

    mode: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Bool:
    """``and``/``or`` over clauses, or ``not`` of one."""

    op: str
    items: tuple[Node, ...]


Node = Cmp | Tags | Bool


def _fail(path: str, message: str) -> SegmentError:
    return SegmentError(f"{path or '(definition)'}: {message}")


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path and not part.startswith("[") else f"{path}{part}"


def _suggest(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(options)}"


def _scalar(path: str, field: str, value: Any) -> Any:
    kind = FIELD_TYPES[field]
    if kind is bool:
        if not isinstance(value, bool):
            raise _fail(path, f"{field} takes true or false, not {value!r}")
        return value
    if kind is float or kind is int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, f"{field} takes a number, not {value!r}")
        return value
    if kind is datetime:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value))
            except ValueError:
                raise _fail(path, f"{field} takes an ISO date or time, not {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise _fail(path, f"{field} takes text, not {value!r}")
    if field == "lifecycle_stage" and value not in LIFECYCLE_STAGES:
        raise _fail(path, f"unknown lifecycle stage {value!r}{_suggest(value, LIFECYCLE_STAGES)}")
    if field == "tier" and value not in TIERS:
        raise _fail(path, f"unknown tier {value!r}{_suggest(value, TIERS)}")
    return value


def _values(path: str, field: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list):
        return (_scalar(path, field, value),)
    if not value:
        raise _fail(path, "needs at least one value")
    return tuple(_scalar(_join(path, f"[{i}]"), field, v) for i, v in enumerate(value))


def _field_clause(path: str, clause: Mapping[str, Any]) -> Node:
    extra = sorted(set(clause) - {"field", "op", "value"})
    if extra:
        raise _fail(_join(path, extra[0]), "unexpected key beside 'field' (use 'op' and 'value')")
    name = clause["field"]
    if not isinstance(name, str) or name not in FIELD_TYPES:
        hint = _suggest(str(name), list(FIELD_TYPES))
        raise _fail(_join(path, "field"), f"unknown field {name!r}{hint}")
    op = clause.get("op", "eq")
    if op not in OPS:
        raise _fail(_join(path, "op"), f"unknown operator {op!r}{_suggest(str(op), OPS)}")
    vpath = _join(path, "value")
    if op in ("is_null", "not_null"):
        if "value" in clause:
            raise _fail(vpath, f"{op} takes no value")
        return Cmp(name, op)
    if "value" not in clause:
        raise _fail(path, f"operator {op!r} needs a 'value'")
    value = clause["value"]
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise _fail(vpath, f"{op} takes a list, not {value!r}")
        return Cmp(name, op, _values(vpath, name, value))
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise _fail(vpath, "between takes a list of two values [low, high]")
        return Cmp(name, op, _values(vpath, name, value))
    if op in ("contains", "starts_with") and FIELD_TYPES[name] is not str:
        raise _fail(_join(path, "op"), f"{op} works on text fields; {name} is not text")
    if op in ORDER_OPS and FIELD_TYPES[name] in (str, bool):
        raise _fail(_join(path, "op"), f"{op} works on numbers and times; {name} is not one")
    return Cmp(name, op, _scalar(vpath, name, value))


def _range(path: str, field: str, spec: Any) -> Node:
    if not isinstance(spec, Mapping) or not spec:
        raise _fail(path, "takes a mapping of bounds, e.g. {gte: 10, lt: 50}")
    parts: list[Node] = []
    for op, value in spec.items():
        if op not in ORDER_OPS:
            raise _fail(_join(path, str(op)), f"unknown bound {op!r}; use {', '.join(ORDER_OPS)}")
        parts.append(Cmp(field, op, _scalar(_join(path, op), field, value)))
    return parts[0] if len(parts) == 1 else Bool("and", tuple(parts))


def _tags(path: str, spec: Any) -> Node:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise _fail(path, "takes one of {contains: tag}, {any: [...]}, {all: [...]}, {none: [...]}")
    ((mode, value),) = spec.items()
    if mode not in ("contains", "any", "all", "none"):
        raise _fail(_join(path, str(mode)), f"unknown tags test {mode!r}; use contains, any, all or none")
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(t, str) and t for t in items):
        raise _fail(_join(path, mode), "takes a tag or a non-empty list of tags (text)")
    tags = tuple(dict.fromkeys(items))
    if mode == "none":
        return Bool("not", (Tags("any", tags),))
    return Tags("all" if mode == "all" else "any", tags)


def _last_activity(path: str, spec: Any, now: datetime) -> Node:
    keys = ("within_days", "older_than_days", "include_never", "never")
    if not isinstance(spec, Mapping) or not spec:
        raise _fail(path, "takes {within_days: N}, {older_than_days: N} or {never: true}")
    for key in spec:
        if key not in keys:
            raise _fail(_join(path, str(key)), f"unknown key {key!r}{_suggest(str(key), keys)}")
    if spec.get("never") is True and len(spec) == 1:
        return Cmp("last_activity_at", "is_null")
    windows = [k for k in ("within_days", "older_than_days") if k in spec]
    if len(windows) != 1:
        raise _fail(path, "give exactly one of within_days or older_than_days")
    days = spec[windows[0]]
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise _fail(_join(path, windows[0]), f"takes a number of days >= 0, not {days!r}")
    cutoff = now - timedelta(days=days)
    if windows[0] == "within_days":
        return Cmp("last_activity_at", "gte", cutoff)
    older = Cmp("last_activity_at", "lt", cutoff)
    if spec.get("include_never", False):
        return Bool("or", (older, Cmp("last_activity_at", "is_null")))
    return older


def parse(definition: Any, *, now: datetime | None = None, path: str = "") -> Node:
    """Check a definition and return its checked form; SegmentError points at the bad clause."""
    now = now or utcnow()
    if isinstance(definition, Mapping) and "where" in definition and path == "":
        extra = sorted(set(definition) - {"where", "description", "name"})
        if extra:
            raise _fail(extra[0], "unexpected key beside 'where'")
        return parse(definition["where"], now=now, path="where")
    if not isinstance(definition, Mapping):
        raise _fail(path, f"a clause must be a mapping, not {type(definition).__name__}")
    kinds = [k for k in definition if k in CLAUSE_KEYS]
    if "field" in definition:
        return _field_clause(path, definition)
    if len(definition) != 1 or len(kinds) != 1:
        unknown = [str(k) for k in definition if k not in CLAUSE_KEYS]
        if unknown:
            raise _fail(
                _join(path, unknown[0]), f"unknown clause {unknown[0]!r}{_suggest(unknown[0], CLAUSE_KEYS)}"
            )
        raise _fail(
            path, f"a clause has exactly one key, not {len(definition)} ({', '.join(map(str, definition))})"
        )
    kind = kinds[0]
    value = definition[kind]
    sub = _join(path, kind)
    if kind in ("and", "or"):
        if not isinstance(value, list) or not value:
            raise _fail(sub, f"{kind} takes a non-empty list of clauses")
        return Bool(kind, tuple(parse(c, now=now, path=_join(sub, f"[{i}]")) for i, c in enumerate(value)))
    if kind == "not":
        return Bool("not", (parse(value, now=now, path=sub),))
    if kind in ("lifecycle_stage", "tier"):
        return Cmp(kind, "in", _values(sub, kind, value))
    if kind == "score":
        return _range(sub, "engagement_score", value)
    if kind == "tags":
        return _tags(sub, value)
    return _last_activity(sub, value, now)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line report as one line: the problem and where it is."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def load_definition(path: Path) -> Any:
    """Read a definition from a JSON or YAML file; InputError naming the file if it does not parse."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None


# ---- SQL -------------------------------------------------------------------------------------
class TagsMatch(ColumnElement[bool]):
    """``contacts.tags`` holds any/all of some tags; compiled per dialect (JSON text vs JSONB)."""

    type = Boolean()
    inherit_cache = False

    def __init__(self, column: Any, tags: tuple[str, ...], mode: str) -> None:
        self.column = column
        self.tags = tags
        self.mode = mode


def _bound(compiler: SQLCompiler, tags: tuple[str, ...], **kw: Any) -> str:
    return ", ".join(compiler.process(bindparam(None, t, unique=True), **kw) for t in tags)


@compiles(TagsMatch, "sqlite")
def _tags_sqlite(element: TagsMatch, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    params = _bound(compiler, element.tags, **kw)
    if element.mode == "any":
        return f"EXISTS (SELECT 1 FROM json_each({col}) AS je WHERE je.value IN ({params}))"
    return (
        f"((SELECT count(DISTINCT je.value) FROM json_each({col}) AS je WHERE je.value IN ({params}))"
        f" = {len(element.tags)})"
    )


@compiles(TagsMatch, "postgresql")
def _tags_postgresql(element: TagsMatch, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(element.column, **kw)
    params = _bound(compiler, element.tags, **kw)
    fn = "jsonb_exists_any" if element.mode == "any" else "jsonb_exists_all"
    return f"COALESCE({fn}({col}, ARRAY[{params}]::text[]), false)"


# The comparisons that read the same on a SQL column and a Polars expression.
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def _cmp_sql(node: Cmp) -> ColumnElement[bool]:
    col: Any = getattr(Contact, node.field)
    op, v = node.op, node.value
    simple: dict[str, Callable[[], ColumnElement[bool]]] = {
        **{name: partial(compare, col, v) for name, compare in COMPARISONS.items()},
        "in": lambda: col.in_(list(v)),
        "not_in": lambda: col.not_in(list(v)),
        "between": lambda: col.between(v[0], v[1]),
        "contains": lambda: col.contains(v, autoescape=True),
        "starts_with": lambda: col.startswith(v, autoescape=True),
        "is_null": lambda: col.is_(None),
        "not_null": lambda: col.is_not(None),
    }
    return simple[op]()


def to_sql(node: Node) -> ColumnElement[bool]:
    """The checked segment as a SQLAlchemy WHERE clause over ``contacts``."""
    if isinstance(node, Cmp):
        return _cmp_sql(node)
    if isinstance(node, Tags):
        return TagsMatch(Contact.__table__.c.tags, node.tags, node.mode)
    parts = [to_sql(n) for n in node.items]
    if node.op == "and":
        return and_(true(), *parts)
    if node.op == "or":
        return or_(false(), *parts)
    return not_(parts[0])


# ---- Polars ----------------------------------------------------------------------------------
def _cmp_polars(node: Cmp) -> pl.Expr:
    col = pl.col(node.field)
    op, v = node.op, node.value
    if op == "in":
        return pl.when(col.is_null()).then(None).otherwise(col.is_in(list(v)))
    if op == "not_in":
        return pl.when(col.is_null()).then(None).otherwise(~col.is_in(list(v)))
    if op == "between":
        return col.is_between(v[0], v[1], closed="both")
    table: dict[str, Callable[[], pl.Expr]] = {
        **{name: partial(compare, col, v) for name, compare in COMPARISONS.items()},
        "contains": lambda: col.str.contains(v, literal=True),
        "starts_with": lambda: col.str.starts_with(v),
        "is_null": lambda: col.is_null(),
        "not_null": lambda: col.is_not_null(),
    }
    return table[op]()


def to_polars(node: Node) -> pl.Expr:
    """The checked segment as a Polars boolean expression over a contacts frame (null = no match)."""
    if isinstance(node, Cmp):
        return _cmp_polars(node)
    if isinstance(node, Tags):
        tests = [pl.col("tags").list.contains(pl.lit(t, dtype=pl.String)) for t in node.tags]
        combined = pl.any_horizontal(tests) if node.mode == "any" else pl.all_horizontal(tests)
        return combined.fill_null(False)
    parts = [to_polars(n) for n in node.items]
    if node.op == "and":
        return pl.all_horizontal(parts) if len(parts) > 1 else parts[0]
    if node.op == "or":
        return pl.any_horizontal(parts) if len(parts) > 1 else parts[0]
    return ~parts[0]


def compile_sql(definition: Any, *, now: datetime | None = None) -> ColumnElement[bool]:
    """Check ``definition`` and compile it to a SQLAlchemy WHERE clause."""
    return to_sql(parse(definition, now=now))


def compile_polars(definition: Any, *, now: datetime | None = None) -> pl.Expr:
    """Check ``definition`` and compile it to a Polars filter expression."""
    return to_polars(parse(definition, now=now))


def filter_frame(
    frame: pl.LazyFrame | pl.DataFrame, definition: Any, *, now: datetime | None = None
) -> pl.LazyFrame:
    """The contacts of ``frame`` in the segment, lazily."""
    return frame.lazy().filter(compile_polars(definition, now=now))
