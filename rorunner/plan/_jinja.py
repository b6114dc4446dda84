"""Jinja2 at plan time: variable values, paths and `files/*.j2` templates, undefined = error."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import jinja2
import jinja2.meta

from rorunner.errors import InputError, Location

# Rendering config files and paths, not HTML: escaping would corrupt them.
ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701
)


def is_template(text: str) -> bool:
    """Whether a string holds Jinja2 syntax worth rendering."""
    return "{{" in text or "{%" in text or "{#" in text


@functools.lru_cache(maxsize=4096)
def compiled(text: str) -> jinja2.Template:
    """`text` compiled once: the same string is rendered for every host of a plan."""
    return ENV.from_string(text)


@functools.lru_cache(maxsize=4096)
def _undeclared(text: str) -> frozenset[str]:
    return frozenset(jinja2.meta.find_undeclared_variables(ENV.parse(text)))


def needed_names(text: str, at: Location) -> frozenset[str]:
    """Variables a template string refers to."""
    try:
        return _undeclared(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"template syntax error: {exc.message}", at.path, at.line) from None


def render_string(text: str, context: Mapping[str, Any], at: Location, what: str) -> str:
    """Render a templated string; an undefined variable is an InputError at `at`."""
    if not is_template(text):
        return text
    try:
        return compiled(text).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(
            f"{what}: template syntax error: {exc.message}", at.path, at.line
        ) from None
    except jinja2.UndefinedError as exc:
        raise InputError(f"{what}: {exc.message}", at.path, at.line) from None
    except Exception as exc:  # a runtime error in a template is still the user's input
        raise InputError(f"{what}: template error: {exc}", at.path, at.line) from None


class TemplateFiles:
    """Compiles each `*.j2` file once and renders it per host, errors naming template:line."""

    def __init__(self) -> None:
        self._compiled: dict[str, jinja2.Template] = {}

    def render(self, path: str, context: Mapping[str, Any]) -> bytes:
        """The rendered bytes of template file `path`."""
        template = self._template(path)
        try:
            return template.render(context).encode()
        except Exception as exc:  # undefined names and runtime errors alike are input errors
            line = _template_line(exc.__traceback__, path)
            message = getattr(exc, "message", None) or str(exc)
            raise InputError(f"template: {message}", path, line) from None

    def _template(self, path: str) -> jinja2.Template:
        if path not in self._compiled:
            loader = jinja2.FileSystemLoader(os.path.dirname(path))
            env = ENV.overlay(loader=loader)
            try:
                self._compiled[path] = env.get_template(os.path.basename(path))
            except jinja2.TemplateSyntaxError as exc:
                raise InputError(
                    f"template syntax error: {exc.message}", path, exc.lineno
                ) from None
            except UnicodeDecodeError:
                raise InputError("template is not valid UTF-8", path) from None
        return self._compiled[path]


def _template_line(tb: TracebackType | None, path: str) -> int:
    """The line of `path` where rendering failed (jinja2 rewrites tracebacks to template lines)."""
    line = 0
    target = os.path.abspath(path)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename and os.path.abspath(filename) == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
