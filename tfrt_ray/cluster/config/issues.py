"""Turning problems (pydantic errors, YAML prechecks, cross-field checks) into one
ConfigError that names file, line, column and field."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from tfrt_ray.cluster.config.schema import ClusterConfig
from tfrt_ray.cluster.config.values import _CUSTOM, MAX_DEVICES, _kind, _show
from tfrt_ray.errors import ConfigError


@dataclass
class _Issue:
    path: tuple  # the field path, as a pydantic loc
    problem: str
    hint: str | None
    mark: Any = None  # a yaml Mark; found from path when None
    at_key: bool = True
    rank: int = 1  # unknown fields (rank 0) come first: they often explain the rest


def _locate(marks: dict, path: tuple, at_key: bool) -> tuple[Any, tuple]:
    """The mark for a field path: its key's mark when it exists (or its value's for a list
    item); for a missing field, the start of the deepest part of the path that exists."""
    for n in range(len(path), -1, -1):
        hit = marks.get(tuple(path[:n]))
        if hit is not None:
            key_mark, node = hit
            if at_key and key_mark is not None:
                return key_mark, tuple(path[:n])
            return node.start_mark, tuple(path[:n])
    return None, ()


# ---- pydantic errors -> issues ---------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _models_in(get_args(annotation)[0])
        return
    if origin is None:
        return
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The schema section a field path points into (ClusterConfig for ``()``)."""
    model: type[BaseModel] | None = ClusterConfig
    for part in path:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        found = list(_models_in(model.model_fields[part].annotation))
        model = found[0] if found else None
    return model


def _field_description(path: tuple) -> str | None:
    if not path or not isinstance(path[-1], str):
        return None
    model = _model_at(path[:-1])
    if model is None or path[-1] not in model.model_fields:
        return None
    return model.model_fields[path[-1]].description


def _section_hint(path: tuple) -> str:
    """A hint for a whole section or list item: the fields it takes."""
    model = _model_at(path)
    if model is None:
        return "see cluster_configs/README.md for the format"
    fields = ", ".join(model.model_fields)
    if not path:
        return (
            f"a cluster config is a mapping of {fields}; 'name' and 'nodes' are required "
            "(see cluster_configs/laptop.yaml)"
        )
    return f"{model.what} is a mapping of {fields}"


_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "list_type": "a list ('- item' lines or [a, b])",
    "dict_type": "a mapping ('field: value' lines)",
    "model_type": "a mapping ('field: value' lines)",
    "model_attributes_type": "a mapping ('field: value' lines)",
}


def _from_pydantic(err: dict) -> _Issue:
    path = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    described = _field_description(path) or _section_hint(path)
    if kind == _CUSTOM:
        return _Issue(path, ctx["problem"], ctx["hint"])
    if kind == "extra_forbidden":
        field = path[-1] if path else "?"
        model = _model_at(path[:-1])
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(field), allowed, n=1, cutoff=0.5)
        where = model.what if model else "this section"
        problem = f"unknown field '{field}'"
        if close:
            problem += f" (did you mean '{close[0]}'?)"
            hint = f"rename '{field}' to '{close[0]}'; {where} takes: {', '.join(allowed)}"
        else:
            hint = f"remove '{field}'; {where} takes: {', '.join(allowed)}"
        return _Issue(path, problem, hint, rank=0)
    if kind == "missing":
        field = path[-1] if path else "?"
        hint = f"add '{field}: ...'" + (f"; {described}" if described else "")
        return _Issue(path, f"missing required field '{field}'", hint, at_key=False)
    if kind in _TYPE_WORDS:
        problem = f"must be {_TYPE_WORDS[kind]}, got {_kind(value)}"
        hint = described
        if kind == "string_type" and isinstance(value, (bool, int, float)):
            hint = f'quote it, e.g. "{_show(value)}"' + (f"; {described}" if described else "")
        elif kind.startswith("int") and isinstance(value, str) and value.strip().isdigit():
            hint = f"drop the quotes: {value.strip()}" + (f"; {described}" if described else "")
        elif value is None and described:
            hint = f"give a value or remove the line; {described}"
        return _Issue(path, problem, hint)
    bounds = {
        "greater_than": ("more than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return _Issue(path, f"must be {words} {bound}, got {_show(value)}", described)
    if kind == "too_short":
        return _Issue(path, "must not be empty", described)
    if kind == "finite_number":
        return _Issue(path, f"must be a finite number, got {_show(value)}", described)
    return _Issue(path, err.get("msg", "is invalid"), described)


def _semantic_issues(config: ClusterConfig, marks: dict) -> list[_Issue]:
    """Checks across fields: unique node names (replicas expanded), a bounded device count."""
    issues: list[_Issue] = []
    owner: dict[str, int] = {}  # expanded node name -> index of the entry that made it
    for i, group in enumerate(config.nodes):
        for node in group.node_names():
            if node not in owner:
                owner[node] = i
                continue
            j = owner[node]
            first_mark, _ = _locate(marks, ("nodes", j, "name"), True)
            first_line = f" at line {first_mark.line + 1}" if first_mark is not None else ""
            if node == group.name and node == config.nodes[j].name:
                problem = f"node name '{node}' is used twice (first{first_line})"
            else:
                problem = (
                    f"node '{node}' is named twice: by nodes[{j}]{first_line} and by "
                    f"nodes[{i}] (replicas of a node with count > 1 are named "
                    "<name>-0, <name>-1, ...)"
                )
            issues.append(
                _Issue(
                    ("nodes", i, "name"),
                    problem,
                    "give every node a unique name (or use 'count: n' on one entry for n "
                    "identical machines)",
                )
            )
            break
    total = config.device_count()
    if total > MAX_DEVICES:
        issues.append(
            _Issue(
                ("nodes",),
                f"the cluster has {total} devices; at most {MAX_DEVICES} are supported",
                "lower the node and device counts",
            )
        )
    return issues


def _format_path(path: tuple) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _render(source: str, issues: list[_Issue], marks: dict) -> ConfigError:
    """One ConfigError for all issues: ``file:line:column: field: problem`` lines, unknown
    fields first, then in file order; the hint is the first one's. Without marks (a config
    given as Python data) the line and column are left out."""
    placed = []
    for issue in issues:
        mark = issue.mark
        if mark is None:
            mark, _ = _locate(marks, issue.path, issue.at_key)
        line = mark.line + 1 if mark is not None else 0
        column = mark.column + 1 if mark is not None else 0
        placed.append((issue.rank, line, column, issue))
    placed.sort(key=lambda p: p[:3])
    lines = [
        f"{source}{f':{line}:{column}' if line else ''}: {_format_path(issue.path)}: "
        f"{issue.problem}"
        for _, line, column, issue in placed
    ]
    message = lines[0]
    if len(lines) > 1:
        more = len(lines) - 1
        message += f"\n  and {more} more problem{'s' * (more != 1)}:"
        message += "".join(f"\n  {text}" for text in lines[1:11])
        if len(lines) > 11:
            message += f"\n  ... ({len(lines) - 11} more)"
    _, line, _, first = placed[0]
    return ConfigError(message, loc=f"{source}:{line}" if line else source, hint=first.hint)
