"""Command-line options generated from config dataclasses, so each option, default and help line exists once.

Every field of a config becomes ``--field-name``; its type comes from the annotation, its help from the
comment on the field's line in the dataclass (the house style: one commented line per field, continued on
comment-only lines below it), and the default shown in the help is the dataclass's own. Options are
added with ``default=SUPPRESS``, so the parsed namespace holds only what the user typed: a recipe file or
the dataclass default fills the rest (:func:`given`), with no second list of fields to keep in step.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import io
import sys
import textwrap
import tokenize
import types
import typing


@functools.lru_cache(maxsize=None)
def field_comments(cls) -> dict[str, str]:
    """{field: its comment} read from the source of dataclass `cls` (and its bases)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        names = {f.name for f in dataclasses.fields(klass)}
        current, line_of = None, {}
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        for k, tok in enumerate(tokens):
            if tok.type == tokenize.NAME and tok.string in names and tok.start[1] == 4 and k + 1 < len(tokens) \
                    and tokens[k + 1].string == ":":
                current = tok.string
                line_of[current] = tok.start[0]
            elif tok.type == tokenize.COMMENT and current is not None:
                text = tok.string.lstrip("#").strip()
                own_line = tok.line.strip().startswith("#")
                if not own_line and tok.start[0] == line_of[current]:
                    out[current] = text
                elif own_line and current in out:
                    out[current] += " " + text
            elif tok.type == tokenize.NAME and tok.start[1] == 4 and tok.string not in names:
                current = None
    return out


def _resolved_types(cls) -> dict[str, object]:
    module = sys.modules[cls.__module__]
    return typing.get_type_hints(cls, vars(module))


def _optional_of(tp):
    """X for `X | None`, else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _none_or(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, cls, *, title: str | None = None, exclude=(),
                aliases: dict[str, list[str]] | None = None, choices: dict[str, list] | None = None) -> None:
    """One option per field of dataclass `cls`, in a group headed `title` (fields that are dataclasses
    themselves are left to their own call); `aliases` adds older flag names, `choices` restricts values."""
    target = parser.add_argument_group(title) if title else parser
    comments, hints = field_comments(cls), _resolved_types(cls)
    aliases, choices = aliases or {}, choices or {}
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.init:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = comments.get(f.name, "")
        if default is None or default == ():
            shown = "none"
        else:
            shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f"{help_text} (default: {shown})".strip()
        names = [flag(f.name), *aliases.get(f.name, [])]
        kw = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text.replace("%", "%%"))
        if f.name in choices:
            kw["choices"] = choices[f.name]
        inner = _optional_of(tp)
        if tp is bool:
            target.add_argument(*names, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(tp) is tuple:
            items = typing.get_args(tp)
            nargs = "*" if len(items) == 2 and items[1] is Ellipsis else len(items)
            target.add_argument(*names, type=items[0], nargs=nargs, metavar=items[0].__name__.upper(), **kw)
        elif inner is not None:
            target.add_argument(*names, type=_none_or(inner), metavar=inner.__name__.upper(), **kw)
        elif tp in (int, float, str):
            metavar = None if "choices" in kw else tp.__name__.upper()
            target.add_argument(*names, type=tp, metavar=metavar, **kw)
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no command-line form for type {tp}")


def given(args: argparse.Namespace, cls) -> dict:
    """The fields of `cls` the user typed, as the dataclass wants them (tuples for sequences)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items() if k in names}
