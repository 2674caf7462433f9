"""Every setting the config accepts is documented: config.yaml shows each key of bot/config.py's models, nested
ones included, where it belongs (set, or commented out as `# key: value`), with a comment saying what it does."""
from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.config import ENV_OVERRIDES, Config

ROOT = Path(__file__).resolve().parents[1]
# `key: value`, `- key: value` (a list item) or, commented out, `# key: value` (the `#` where the key would be);
# the key's column gives its depth.
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<hash>#\s?)?(?P<dash>- )?(?P<key>[a-z_]+):(?:\s|$)(?P<rest>.*)$")
TRAILING_COMMENT = re.compile(r"(^|\s)#\s")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: `X`, `list[X]`, `X | None`..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (list, tuple, typing.Union, types.UnionType, typing.Annotated):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> dict[str, bool]:
    """Every key of `model`, nested keys included, as a dotted path ('communities.groups.room'; list items have no
    index), and whether it is a section (holds keys of its own)."""
    keys: dict[str, bool] = {}
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        nested = _models_in(field.annotation)
        keys[path] = bool(nested)
        for sub in nested:
            keys.update(config_keys(sub, path + "."))
    return keys


@dataclass
class Shown:
    line: int
    commented: bool     # shown commented out (`# key: value`): an optional key with no value set
    explained: bool     # a comment on its line, or comment lines right above it


def shown_keys(text: str) -> dict[str, Shown]:
    """The keys a config.yaml shows, by dotted path, with where and whether a comment explains them."""
    shown: dict[str, Shown] = {}
    stack: list[tuple[int, str]] = []            # (column, key) of the enclosing keys
    previous = ""
    for number, line in enumerate(text.splitlines(), 1):
        m = KEY_LINE.match(line)
        if m is None:
            if line.strip():
                previous = line
            continue
        column = len(m["indent"]) + len(m["dash"] or "")
        while stack and stack[-1][0] >= column:
            stack.pop()
        path = ".".join([k for _, k in stack] + [m["key"]])
        stack.append((column, m["key"]))
        above = previous.lstrip().startswith("#") and KEY_LINE.match(previous) is None
        shown.setdefault(path, Shown(number, bool(m["hash"]), bool(TRAILING_COMMENT.search(m["rest"])) or above))
        previous = line
    return shown


def undocumented(model: type[BaseModel], text: str) -> list[str]:
    """The keys of `model` that `text` does not show, or shows without saying what they are."""
    shown = shown_keys(text)
    problems = []
    for path, section in config_keys(model).items():
        if path not in shown:
            problems.append(f"{path}: not in config.yaml")
        elif not section and not shown[path].explained:
            problems.append(f"{path}: line {shown[path].line} has no comment saying what it is")
    return problems


def test_every_key_the_config_accepts_is_documented_in_config_yaml():
    assert undocumented(Config, (ROOT / "config.yaml").read_text(encoding="utf-8")) == []


def test_the_keys_are_walked_from_the_models_nested_ones_included():
    keys = config_keys()
    for path in ("locale", "adapter.wecom.url", "adapter.wecom.webhook_url", "adapter.wecom.callback.path",
                 "communities.groups.webhook_key", "communities.fund.split", "communities.schedule.post_new_members"):
        assert keys[path] is False, path
    assert keys["adapter.wecom.callback"] is True and keys["communities"] is True


def test_a_key_added_without_documentation_fails():
    class Later(Config):
        brand_new: int = 0

    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert undocumented(Later, text) == ["brand_new: not in config.yaml"]
    last_line = text.count("\n") + 1
    assert undocumented(Later, text + "brand_new: 0\n") == [f"brand_new: line {last_line} has no comment saying "
                                                             "what it is"]
    assert undocumented(Later, text + "brand_new: 0      # what it does\n") == []
    assert undocumented(Later, text + "# brand_new: 0    # what it does, when set\n") == []
    nested = text.replace("    heartbeat_seconds:", "    brand_new: 1        # what it does\n    heartbeat_seconds:")
    assert undocumented(Later, nested) == ["brand_new: not in config.yaml"]      # documented, but elsewhere


def test_every_environment_variable_is_named_in_config_yaml_and_the_readme():
    config_yaml = (ROOT / "config.yaml").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for variable, path in ENV_OVERRIDES.items():
        assert variable in config_yaml and f"`{variable}`" in readme, variable
        assert ".".join(path) in config_keys(), path
