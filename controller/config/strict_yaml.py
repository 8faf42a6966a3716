"""Reads a config file's YAML strictly: duplicate keys, keys that are not plain values,
deep nesting and absurdly long numbers are refused with one line naming where, never a
traceback and never a silently kept last value (R2)."""

from __future__ import annotations

from typing import Any

import yaml

from controller.config.reader import ConfigError, Problem

# A config is a few levels deep and its numbers are short; anything beyond these is a
# mistake or an attack, refused with one line instead of a traceback (R2).
MAX_DEPTH = 64
MAX_INT_DIGITS = 30


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently,
    keys that are not plain values, deep nesting and absurdly long numbers."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                "a key must be a plain name, not a list or a mapping",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    digits = sum(ch.isdigit() for ch in str(node.value))
    if digits > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"a number of {digits} digits is too long (at most {MAX_INT_DIGITS}); "
            "quote it if it is text",
            node.start_mark,
        )
    return int(loader.construct_yaml_int(node))


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or "cannot be parsed"
        raise ConfigError([Problem("", f"{where}: YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"{source}: YAML syntax error: {exc}")]) from None
    except (ValueError, TypeError, RecursionError) as exc:
        # Whatever slips past the checks above still ends as one line, never a traceback.
        raise ConfigError([Problem("", f"{source}: cannot be read as YAML: {exc}")]) from None
