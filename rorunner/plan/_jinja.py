"""Jinja2 at plan time: variable values, paths and `files/*.j2` templates, undefined = error."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rorunner.errors import InputError, Location
from rorunner.model import has_secret, reveal
from rorunner.plan._filters import FILTERS

if TYPE_CHECKING:
    import jinja2

# jinja2 is imported by the first string that is a template (is_template), not by every
# plan: a plan without templates, and an unchanged re-run of one, never load it.


class SecretVars(dict[str, Any]):
    """A host's variables when some of them are vault secrets (template files reveal them,
    paths refuse them); other variables need no looking through."""


@functools.cache
def environment() -> jinja2.Environment:
    """The plan's Jinja2 environment (made, and jinja2 imported, on first use)."""
    import jinja2  # noqa: PLC0415 - lazy: see above

    # Rendering config files and paths, not HTML: escaping would corrupt them.
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701
    )
    env.filters.update(FILTERS)  # Ansible's most used filters (plan/_filters.py)
    return env


def is_template(text: str) -> bool:
    """Whether a string holds Jinja2 syntax worth rendering."""
    return "{{" in text or "{%" in text or "{#" in text


@functools.lru_cache(maxsize=4096)
def compiled(text: str) -> jinja2.Template:
    """`text` compiled once: the same string is rendered for every host of a plan."""
    return environment().from_string(text)


# A template that only substitutes plain variables: (True, name) or (False, literal text).
Parts = tuple[tuple[bool, str], ...]


def _plain_parts(tree: jinja2.nodes.Template) -> Parts | None:
    """The parts of a template that is text and `{{ name }}` only, else None."""
    import jinja2.nodes  # noqa: PLC0415 - lazy: see above

    parts: list[tuple[bool, str]] = []
    for node in tree.body:
        if not isinstance(node, jinja2.nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, jinja2.nodes.TemplateData):
                parts.append((False, child.data))
            elif isinstance(child, jinja2.nodes.Name) and child.ctx == "load":
                parts.append((True, child.name))
            else:
                return None
    return tuple(parts)


def substitute(parts: Parts, context: Mapping[str, Any]) -> str | None:
    """What jinja2 renders for a plain template (it writes str() of each value), without
    its per-render context set-up; None when a name is missing (jinja2 then says so)."""
    out = []
    for is_name, text in parts:
        if not is_name:
            out.append(text)
        elif text in context:
            out.append(str(context[text]))
        else:
            return None
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _shape(text: str) -> tuple[frozenset[str], Parts | None]:
    """The variables a string names and, when it is plain, its parts (one parse)."""
    import jinja2.meta  # noqa: PLC0415 - lazy: see above

    tree = environment().parse(text)
    return frozenset(jinja2.meta.find_undeclared_variables(tree)), _plain_parts(tree)


def _undeclared(text: str) -> frozenset[str]:
    return _shape(text)[0]


def needed_names(text: str, at: Location) -> frozenset[str]:
    """Variables a template string refers to."""
    import jinja2  # noqa: PLC0415 - lazy: see above

    try:
        return _undeclared(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"template syntax error: {exc.message}", at.path, at.line) from None


def refuse_secrets(text: str, context: Mapping[str, Any], at: Location, what: str) -> None:
    """A path or setting rendered at plan time is shown in plans and logs: one that would
    hold a secret (vault) value is an InputError at `at`."""
    secret = sorted(n for n in needed_names(text, at) if has_secret(context.get(n)))
    if secret:
        raise InputError(
            f"{what}: {secret[0]!r} is a secret (vault) value and cannot be part of a path "
            "or name, which is shown in plans and logs; secrets reach steps through their "
            "environment and template files",
            at.path or None,
            at.line,
        )


def render_string(text: str, context: Mapping[str, Any], at: Location, what: str) -> str:
    """Render a templated string; an undefined variable or a secret is an InputError at
    `at`."""
    if not is_template(text):
        return text
    refuse_secrets(text, context, at, what)
    import jinja2  # noqa: PLC0415 - lazy: see above

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


# Filters and globals whose output is not a function of the variables: never memoised.
_UNSTABLE = ("random", "shuffle", "lipsum", "cycler", "joiner", "namespace")
_MEMO_LIMIT = 64  # distinct variable sets per string before it counts as rendered per host
_MISSING = object()


def _memo_key(names: tuple[str, ...], context: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The values `names` have in `context`, typed (1, True and 1.0 render differently), or
    None when one of them is not a plain scalar."""
    key: list[Any] = []
    for name in names:
        value = context.get(name, _MISSING)
        if value is _MISSING or isinstance(value, str):
            key.append(value)
        elif value is None or isinstance(value, bool | int | float):
            key.append((type(value), repr(value)))
        else:
            return None
    return tuple(key)


class RenderMemo:
    """Renders each templated string once per distinct set of values of the variables it
    names: hosts that agree on those values share the output instead of rendering it again.
    A string that keeps meeting new values (it names the host) stops being memoised."""

    def __init__(self) -> None:
        # per string: the names it refers to and the outputs so far; None: not memoised
        self._tables: dict[str, tuple[tuple[str, ...], dict[tuple[Any, ...], str]] | None] = {}

    def _table(self, text: str) -> tuple[tuple[str, ...], dict[tuple[Any, ...], str]] | None:
        if text not in self._tables:
            import jinja2  # noqa: PLC0415 - lazy: see above

            try:
                names = tuple(sorted(_undeclared(text)))
            except jinja2.TemplateSyntaxError:
                names = None  # rendering raises the error, with its place
            stable = names is not None and not any(word in text for word in _UNSTABLE)
            self._tables[text] = (names, {}) if stable and names is not None else None
        return self._tables[text]

    def value(self, text: str, context: Mapping[str, Any], memo: bool = True) -> str:
        """compiled(text).render(context), memoised (unless `memo` is False: what a secret
        renders is kept nowhere); jinja2's own errors pass through."""
        if not memo:
            return compiled(text).render(context)
        plain = _shape(text)[1] if is_template(text) else None
        done = substitute(plain, context) if plain is not None else None
        if done is not None:
            return done
        table = self._table(text)
        key = _memo_key(table[0], context) if table is not None else None
        if table is None or key is None:
            if table is not None:  # it names a list or mapping: memoise it no more
                self._tables[text] = None
            return compiled(text).render(context)
        found = table[1].get(key)
        if found is None:
            # only what it names: jinja2 copies the whole context into every render
            found = compiled(text).render({n: context[n] for n in table[0] if n in context})
            if len(table[1]) < _MEMO_LIMIT:
                table[1][key] = found
            else:
                self._tables[text] = None
        return found

    def string(self, text: str, context: Mapping[str, Any], at: Location, what: str) -> str:
        """render_string, memoised: a path or setting rendered at plan time (a SecretVars
        context is looked through for secrets; others hold none)."""
        if not is_template(text):
            return text
        if isinstance(context, SecretVars):
            refuse_secrets(text, context, at, what)
        try:
            return self.value(text, context)
        except Exception:  # render_string words the error, with its place
            return render_string(text, context, at, what)


class TemplateFiles:
    """Compiles each `*.j2` file once and renders it per host, errors naming template:line;
    hosts that agree on every variable a template names share one rendering."""

    def __init__(self) -> None:
        self._compiled: dict[str, jinja2.Template] = {}
        self._names: dict[str, tuple[str, ...] | None] = {}
        self._parts: dict[str, Parts | None] = {}
        self._memo: dict[str, dict[tuple[Any, ...], bytes]] = {}
        self._globals: dict[str, dict[str, Any]] = {}  # each template's, copied once

    def render(self, path: str, context: Mapping[str, Any]) -> bytes:
        """The rendered bytes of template file `path` (a SecretVars context renders its
        secrets as their plaintext: a template file is where a secret is meant to land)."""
        template = self._template(path)
        if isinstance(context, SecretVars):
            context = reveal(context)
        parts = self._parts[path]
        done = substitute(parts, context) if parts is not None else None
        if done is not None:
            return done.encode()
        names = self._names[path]
        key = _memo_key(names, context) if names is not None else None
        if names is not None and key is None:  # it names a list or mapping: memoise it no more
            self._names[path] = None
        table = self._memo.setdefault(path, {})
        if key is not None and key in table:
            return table[key]
        if names is not None:  # only what it names: jinja2 copies the whole context
            context = {n: context[n] for n in names if n in context}
        try:
            data = _render(template, self._globals[path], context).encode()
        except Exception as exc:  # undefined names and runtime errors alike are input errors
            line = _template_line(exc.__traceback__, path)
            message = getattr(exc, "message", None) or str(exc)
            raise InputError(f"template: {message}", path, line) from None
        if key is not None:
            if len(table) < _MEMO_LIMIT:
                table[key] = data
            else:
                self._names[path] = None
        return data

    def _template(self, path: str) -> jinja2.Template:
        if path not in self._compiled:
            import jinja2  # noqa: PLC0415 - lazy: see above

            loader = jinja2.FileSystemLoader(os.path.dirname(path))
            env = environment().overlay(loader=loader)
            try:
                self._compiled[path] = env.get_template(os.path.basename(path))
                self._globals[path] = dict(self._compiled[path].globals)
                self._names[path], self._parts[path] = _file_shape(env, path)
            except jinja2.TemplateSyntaxError as exc:
                raise InputError(
                    f"template syntax error: {exc.message}", path, exc.lineno
                ) from None
            except UnicodeDecodeError:
                raise InputError("template is not valid UTF-8", path) from None
        return self._compiled[path]


def _render(template: jinja2.Template, globals_: dict[str, Any], context: Mapping[str, Any]) -> str:
    """template.render(context), without the copy of the template's globals (a ChainMap,
    read key by key) that jinja2 makes twice per render: `globals_` is that copy, made once.
    Errors pass through as render's do (their traceback rewritten to template lines)."""
    environment = template.environment
    parent = {**globals_, **context}
    made = environment.context_class(
        environment, parent, template.name, template.blocks, globals=globals_
    )
    try:
        return environment.concat(template.root_render_func(made))
    except Exception:
        return environment.handle_exception()


def _file_shape(env: jinja2.Environment, path: str) -> tuple[tuple[str, ...] | None, Parts | None]:
    """The variables a template file names (None when its output may depend on more: it
    includes or imports other templates, or uses a random filter) and its plain parts."""
    import jinja2.meta  # noqa: PLC0415 - lazy: see above

    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    tree = env.parse(source)
    parts = _plain_parts(tree)
    if any(True for _ in jinja2.meta.find_referenced_templates(tree)):
        return None, parts
    if any(word in source for word in _UNSTABLE):
        return None, parts
    return tuple(sorted(jinja2.meta.find_undeclared_variables(tree))), parts


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
