"""Reading a cluster-config file and composing its YAML safely, with the marks that place
errors at a line and column."""

from __future__ import annotations

import difflib
import os
import stat
from typing import Any

import yaml

from tfrt_ray.cluster.config.issues import _Issue
from tfrt_ray.cluster.config.values import MAX_CONFIG_BYTES, MAX_YAML_NODES
from tfrt_ray.errors import ConfigError

# ---- reading the file -----------------------------------------------------------------------


def _read(source: str) -> str:
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: no such cluster config file",
            loc=source,
            hint=_missing_hint(source),
        ) from None
    except OSError as e:
        raise ConfigError(
            f"{source}: cannot read the cluster config ({e.strerror})", loc=source
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"{source}: is a directory, not a cluster config file",
            loc=source,
            hint="pass one YAML file, e.g. cluster_configs/laptop.yaml",
        )
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{source}: is not a regular file", loc=source, hint="pass a YAML file")
    too_big = ConfigError(
        f"{source}: the file is over {MAX_CONFIG_BYTES} bytes; cluster configs are limited "
        "to 1 MiB",
        loc=source,
        hint="a cluster config is a few KiB: use node 'count' to describe many identical "
        "machines instead of listing each",
    )
    if info.st_size > MAX_CONFIG_BYTES:
        raise too_big
    try:
        with open(source, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(
            f"{source}: cannot read the cluster config ({e.strerror})", loc=source
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise too_big
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            f"{source}:{line}:{column}: the file is not UTF-8 text (byte 0x{data[e.start]:02x})",
            loc=f"{source}:{line}",
            hint="save the config as UTF-8",
        ) from None


def _missing_hint(source: str) -> str:
    folder = os.path.dirname(source) or "."
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith((".yaml", ".yml")))
    except OSError:
        names = []
    close = difflib.get_close_matches(os.path.basename(source), names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {os.path.join(folder, close[0])}?"
    if names:
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        return f"check the path; {folder} has {shown}"
    return "check the path; the shipped configs are in cluster_configs/ (e.g. laptop.yaml)"


# ---- YAML: safe composition, marks ---------------------------------------------------------

_YAML_HINT = (
    "check the indentation (spaces, not tabs) and that every line is 'key: value' or '- item'"
)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_SAFE_TAGS = frozenset(t for t in yaml.SafeLoader.yaml_constructors if t is not None)


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def _yaml_error(source: str, e: yaml.YAMLError) -> ConfigError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    context_mark = getattr(e, "context_mark", None)
    what = problem
    if context:
        where = f" at line {context_mark.line + 1}" if context_mark is not None else ""
        what = f"{problem} ({context}{where})"
    hint = _YAML_HINT
    if "\\t" in problem or "\t" in problem:
        hint = "YAML indentation must use spaces; replace the tab characters"
    elif "constructor" in problem:
        hint = "cluster configs are plain data: remove the YAML tag"
    if mark is None:
        return ConfigError(f"{source}: malformed YAML: {what}", loc=source, hint=hint)
    line, column = mark.line + 1, mark.column + 1
    return ConfigError(
        f"{source}:{line}:{column}: malformed YAML: {what}", loc=f"{source}:{line}", hint=hint
    )


def _precheck(root: yaml.Node) -> list[_Issue]:
    """Before anything is constructed: only plain-data tags, text keys, no duplicate keys, no
    recursive aliases, bounded alias expansion."""
    issues: list[_Issue] = []
    budget = [MAX_YAML_NODES]

    def walk(node: yaml.Node, path: tuple, on_path: set[int]) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if node.tag not in _SAFE_TAGS:
            issues.append(
                _Issue(
                    path,
                    f"YAML tag '{_short_tag(node.tag)}' is not allowed",
                    "cluster configs are plain data: remove the tag (tags that build Python "
                    "objects, like !!python/..., are never honoured)",
                    mark=node.start_mark,
                    rank=0,
                )
            )
            return
        if id(node) in on_path:
            issues.append(
                _Issue(
                    path,
                    "a YAML alias refers to a mapping or list that contains it",
                    "remove the recursive alias (*name inside the &name it refers to)",
                    mark=node.start_mark,
                )
            )
            return
        if isinstance(node, yaml.SequenceNode):
            on_path.add(id(node))
            for i, item in enumerate(node.value):
                walk(item, (*path, i), on_path)
            on_path.discard(id(node))
        elif isinstance(node, yaml.MappingNode):
            on_path.add(id(node))
            seen: dict[str, Any] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:  # "<<: *defaults" merges a mapping in
                    walk(value, path, on_path)
                    continue
                if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
                    shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                    issues.append(
                        _Issue(
                            path,
                            f"the key {shown!r} is read as {_short_tag(key.tag)}, but field "
                            "names are text",
                            "use the field's name, e.g. 'count:'; quote a key that YAML reads "
                            "as a number or boolean",
                            mark=key.start_mark,
                        )
                    )
                    continue
                if key.value in seen:
                    first = seen[key.value]
                    issues.append(
                        _Issue(
                            (*path, key.value),
                            f"field '{key.value}' is given twice (first at line {first.line + 1})",
                            "remove one of them; YAML would silently keep only the last",
                            mark=key.start_mark,
                        )
                    )
                else:
                    seen[key.value] = key.start_mark
                walk(value, (*path, key.value), on_path)
            on_path.discard(id(node))

    try:
        walk(root, (), set())
    except RecursionError:
        issues.append(_Issue((), "the YAML is nested too deeply", _YAML_HINT, mark=root.start_mark))
    if budget[0] < 0:
        issues.append(
            _Issue(
                (),
                f"the YAML expands to more than {MAX_YAML_NODES} values (through aliases)",
                "a cluster config is small: use node and device 'count' instead of aliases",
                mark=root.start_mark,
            )
        )
    return issues


def _index(root: yaml.Node) -> dict[tuple, tuple[Any, yaml.Node]]:
    """Field path -> (mark of its key, or None for list items and the root; its value node).
    Runs after construction, so merge keys are already flattened into their mappings."""
    marks: dict[tuple, tuple[Any, yaml.Node]] = {(): (None, root)}
    stack = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    child = (*path, key.value)
                    marks[child] = (key.start_mark, value)  # a later key overrides a merged one
                    stack.append((child, value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, i)
                marks[child] = (None, item)
                stack.append((child, item))
    return marks
