"""Read YAML the way a program lead means it, and remember where every value came from.

PyYAML follows YAML 1.1, where ``10:00`` is the number 600, ``no`` is False and ``on`` is True. A lead who
writes ``start: 10:00`` or ``languages: [en, no]`` means text, so this loader resolves scalars as YAML 1.2
does (only ``true``/``false`` are booleans; no base-60 numbers). Every key and value keeps its line, so
errors can point at ``file:line``. Duplicate keys, which PyYAML silently overwrites, are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    """Whole numbers are decimal, as in YAML 1.2: ``010`` is ten (PyYAML reads it as octal 8, and ``08``
    as an error)."""
    value = str(loader.construct_scalar(node))
    try:
        return int(value, 10)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"{value!r} is not a whole number", node.start_mark
        ) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


@dataclass
class SourceProblem:
    path: Path
    line: int
    message: str


@dataclass
class YamlSource:
    """Parsed YAML data with the line of every path in it (1-based)."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    key_lines: dict[Path, int] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that exists (a missing key: its parent)."""
        path = tuple(path)
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(ValueError):
    """The file is not valid YAML."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"{line}: {message}")


def parse(text: str) -> YamlSource:
    """Parse ``text`` into data plus a line map; raise :class:`YamlSyntaxError` on bad YAML."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, _one_line(error.problem or str(error))) from None
    finally:
        loader.dispose()
    source = YamlSource(data=None)
    if node is None:
        source.lines[()] = 1
        return source
    try:
        source.data = _build(node, (), source, loader)
    except yaml.MarkedYAMLError as error:  # a value that cannot be built, e.g. an unknown !!tag
        mark = error.problem_mark or error.context_mark
        raise YamlSyntaxError(mark.line + 1 if mark else 1, _one_line(error.problem or str(error))) from None
    return source


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _build(node: yaml.Node, path: Path, source: YamlSource, loader: _Loader) -> Any:
    source.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                source.problems.append(
                    SourceProblem(path, key_node.start_mark.line + 1, "merge keys (<<) are not supported")
                )
                continue
            key = _construct(loader, key_node)
            if isinstance(key, list | dict):
                source.problems.append(SourceProblem(path, key_node.start_mark.line + 1, "a key must be a plain value"))
                continue
            child = (*path, key)
            if key in result:
                source.problems.append(
                    SourceProblem(
                        child,
                        key_node.start_mark.line + 1,
                        f"duplicate key (first given on line {source.key_lines[child]})",
                    )
                )
                continue
            source.key_lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, source, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), source, loader) for i, item in enumerate(node.value)]
    return _construct(loader, node)


def _construct(loader: _Loader, node: yaml.Node) -> Any:
    """Build one value; a constructor that fails without a mark (``!!timestamp x``) gets the node's."""
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError:
        raise
    except (ValueError, TypeError, AttributeError, OverflowError):
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read {getattr(node, 'value', '')!r} as {node.tag}", node.start_mark
        ) from None
