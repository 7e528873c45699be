"""Load protocol files, reporting every problem as ``file:line: field: what is wrong``.

Each top-level section is validated on its own, so a mistake in one section does not hide mistakes in
another; cross-section checks then run on every section that validated. Warnings (the discretion check)
do not stop a protocol from loading.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from . import checks
from .schema import (
    ID_PATTERN,
    SECTIONS,
    AllOf,
    AnswerAtLeast,
    AnswerAtMost,
    AnswerEquals,
    AnswerFall,
    AnswerRise,
    AnyOf,
    InOverdoseWindow,
    MissedInARow,
    Phase,
    Protocol,
    Question,
    RiskRule,
    Schedule,
    WithinFirstDays,
)
from .yamlsource import YamlSource, YamlSyntaxError, parse

YamlPath = tuple[str | int, ...]
MAX_FILE_BYTES = 512 * 1024


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        kind = "warning: " if self.warning else ""
        return f"{where}: {self.field}: {kind}{self.message}" if self.field else f"{where}: {kind}{self.message}"


@dataclass
class LoadResult:
    file: str
    protocol: Protocol | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]

    @property
    def ok(self) -> bool:
        return self.protocol is not None and not self.errors


class ProtocolError(Exception):
    """The protocol file is not valid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems) or self.__doc__)


class UnknownProtocol(KeyError):
    """No protocol by that name."""


def field_name(path: YamlPath) -> str:
    """``("schedule", "phases", 1, "every")`` → ``schedule.phases[1].every``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def content_version(data: Any) -> str:
    """A short hash of what the file says (not how it is laid out): comments and spacing do not count."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


_adapters: dict[str, TypeAdapter[Any]] = {}

# What each pattern in the schema asks for, in words.
_PATTERN_HINTS = {
    ID_PATTERN: "use lower-case letters, digits and _ (start with a letter)",
    next(
        m.pattern for m in Protocol.model_fields["name"].metadata if getattr(m, "pattern", None)
    ): "use lower-case letters, digits and - (start with a letter or digit)",
}
_LANGUAGE_HINT = "use a language code such as 'en', 'cy' or 'pt-BR'"
# The model behind each tag of the condition union (tags end in "?"), for "did you mean" hints.
_CONDITION_MODELS: dict[str, type[BaseModel]] = {
    "all?": AllOf,
    "any?": AnyOf,
    "missed_in_a_row?": MissedInARow,
    "within_first_days?": WithinFirstDays,
    "in_overdose_window?": InOverdoseWindow,
    "equals?": AnswerEquals,
    "at_least?": AnswerAtLeast,
    "at_most?": AnswerAtMost,
    "rise_from?": AnswerRise,
    "fall_from?": AnswerFall,
}


def _adapter(name: str) -> TypeAdapter[Any]:
    if name not in _adapters:
        info = SECTIONS[name]
        annotation = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]  # type: ignore[assignment]
        _adapters[name] = TypeAdapter(annotation)
    return _adapters[name]


def _pydantic_messages(error: ValidationError, base: YamlPath, source: YamlSource) -> Iterator[tuple[YamlPath, str]]:
    for item in error.errors(include_url=False):
        # Tags of the condition union end in "?"; they are pydantic's, not the lead's.
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.endswith("?")))
        path = (*base, *loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            key = path[-1]
            parent_tag = item["loc"][-2] if len(item["loc"]) > 1 else None
            if parent_tag in _CONDITION_MODELS:  # a key inside a condition: that condition's keys
                allowed = list(_CONDITION_MODELS[parent_tag].model_fields)
            else:
                allowed = _allowed_keys(path[:-1], source)
            yield path, "unknown key" + _suggest(key, allowed)
            continue
        message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "missing":
            message = "missing: this key is required"
            # A missing key has no line of its own; point at its parent and name the key.
        elif kind in {"string_pattern_mismatch"}:
            pattern = (item.get("ctx") or {}).get("pattern", "")
            hint = _PATTERN_HINTS.get(pattern, _LANGUAGE_HINT if pattern.startswith("^[a-z]{2,3}") else "")
            message = f"{_shown(item['input'])} is not allowed here" + (f": {hint}" if hint else f" ({message})")
        elif kind not in {"value_error", "assertion_error", "condition"} and _is_scalar(item.get("input")):
            message = f"{message}, got {_shown(item['input'])}"
        yield path, message


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short: a 1,700-character text is not repeated back in full."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _allowed_keys(path: YamlPath, source: YamlSource) -> list[str]:
    """The keys the model at ``path`` accepts, for "did you mean" hints (best effort)."""
    model: Any = Protocol
    for part in path:
        if isinstance(part, int):
            continue
        info = getattr(model, "model_fields", {}).get(part) or next(
            (f for f in getattr(model, "model_fields", {}).values() if f.alias == part), None
        )
        if info is None:
            return []
        model = _inner_model(info.annotation)
        if model is None:
            return []
    fields = getattr(model, "model_fields", {})
    return [f.alias or name for name, f in fields.items() if name not in {"version", "source"}]


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _suggest(key: object, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if allowed:
        return f" (allowed: {', '.join(allowed)})"
    return ""


# Sections that are lists of items, validated item by item so that one bad item does not stop the
# cross-checks of the others; an invalid item is kept as None to hold its index.
_ITEM_LISTS: dict[YamlPath, type[BaseModel]] = {
    ("questions",): Question,
    ("risk_rules",): RiskRule,
    ("schedule", "phases"): Phase,
}


def _validate_section(name: str, value: Any, source: YamlSource, add: Any) -> Any:
    """Validate one top-level section; return its value (items that failed become None), or None."""

    def report(error: ValidationError, base: YamlPath) -> None:
        for path, message in _pydantic_messages(error, base, source):
            add(path, message, source)

    try:
        return _adapter(name).validate_python(value)
    except ValidationError as error:
        whole_error = error
    if name == "schedule" and isinstance(value, dict) and isinstance(value.get("phases"), list):
        phases = _validate_items(value["phases"], Phase, ("schedule", "phases"), report)
        rest = {k: v for k, v in value.items() if k != "phases"}
        try:
            Schedule.model_validate({**rest, "phases": [{"name": "x", "every": "1 day", "count": 1}]})
        except ValidationError as error:
            report(error, (name,))
        if not phases:
            add((name, "phases"), "List should have at least 1 item", source)
        return Schedule.model_construct(phases=phases)
    if (name,) in _ITEM_LISTS and isinstance(value, list):
        return _validate_items(value, _ITEM_LISTS[(name,)], (name,), report)
    report(whole_error, (name,))
    return None


def _validate_items(items: list[Any], model: type[BaseModel], base: YamlPath, report: Any) -> list[Any]:
    out: list[Any] = []
    for i, item in enumerate(items):
        try:
            out.append(model.model_validate(item))
        except ValidationError as error:
            report(error, (*base, i))
            out.append(None)
    return out


def load_text(text: str, file: str = "<protocol>", expected_name: str | None = None) -> LoadResult:
    """Validate protocol YAML ``text``; never raises for bad content."""
    result = LoadResult(file=file, protocol=None)

    def add(path: YamlPath, message: str, source: YamlSource | None, warning: bool = False) -> None:
        line = source.line_of(path) if source is not None else 1
        result.problems.append(Problem(file, line, field_name(path), message, warning))

    try:
        source = parse(text)
    except YamlSyntaxError as error:
        result.problems.append(Problem(file, error.line, "", f"not valid YAML: {error.message}"))
        return result
    for problem in source.problems:
        result.problems.append(Problem(file, problem.line, field_name(problem.path), problem.message))

    raw = source.data
    if not isinstance(raw, dict):
        add((), "a protocol file is a mapping of keys (name, title, schedule, questions, ...)", source)
        return result

    parts: dict[str, Any] = {}
    for key in raw:
        if key not in SECTIONS:
            add((key,), "unknown key" + _suggest(key, SECTIONS), source)
    for name, info in SECTIONS.items():
        if name not in raw:
            if info.is_required():
                add((name,), "missing: this key is required", source)
            else:
                parts[name] = info.get_default(call_default_factory=True)
            continue
        value = _validate_section(name, raw[name], source, add)
        if value is not None:
            parts[name] = value

    if expected_name is not None and "name" in parts and parts["name"] != expected_name:
        add(("name",), f"{parts['name']!r} does not match the file name {expected_name!r}", source)

    for finding in checks.run_all(parts, _invalid_question_ids(raw.get("questions"), parts.get("questions"))):
        add(finding.path, finding.message, source, finding.warning)

    result.problems.sort(key=lambda p: (p.warning, p.line))
    if result.errors:
        return result
    protocol = Protocol.model_validate(raw)
    result.protocol = protocol.model_copy(update={"version": content_version(raw), "source": text})
    return result


def _invalid_question_ids(raw: Any, valid: Any) -> frozenset[str]:
    """Ids of the questions that failed their own validation (their errors are already reported)."""
    if not isinstance(raw, list) or not isinstance(valid, list) or len(raw) != len(valid):
        return frozenset()
    return frozenset(
        item["id"]
        for item, ok in zip(raw, valid, strict=True)
        if ok is None and isinstance(item, dict) and isinstance(item.get("id"), str)
    )


def load_file(path: str | Path) -> LoadResult:
    """Validate one protocol file; its name must match the file name."""
    path = Path(path)
    shown = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        return LoadResult(shown, None, [Problem(shown, 1, "", f"cannot read: {error.strerror or error}")])
    if len(data) > MAX_FILE_BYTES:
        too_large = f"too large ({len(data)} bytes; at most {MAX_FILE_BYTES})"
        return LoadResult(shown, None, [Problem(shown, 1, "", too_large)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return LoadResult(shown, None, [Problem(shown, 1, "", f"not UTF-8 text (byte {error.start})")])
    return load_text(text, shown, expected_name=path.stem)


def protocol_files(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def load_directory(directory: str | Path) -> list[LoadResult]:
    """Load every ``*.yaml``/``*.yml`` file in ``directory``, valid or not."""
    return [load_file(path) for path in protocol_files(directory)]


class Catalog:
    """The valid protocols of a folder, by name."""

    def __init__(self, results: list[LoadResult]) -> None:
        self.results = results
        self._by_name = {r.protocol.name: r.protocol for r in results if r.ok and r.protocol is not None}

    @classmethod
    def from_directory(cls, directory: str | Path) -> Catalog:
        return cls(load_directory(directory))

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> Protocol:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownProtocol(f"no valid protocol named {name!r} (valid: {known})") from None

    def __iter__(self) -> Iterator[Protocol]:
        return iter(self._by_name[n] for n in self.names())
