"""The Jinja2 filters Ansible users reach for first, with Ansible's semantics.

Each takes the arguments Ansible's filter of the same name takes and gives what it gives
(tests/test_filters.py runs ansible-core's own filter plugins over a table of inputs as the
oracle). Where Ansible only warns and guesses, these refuse: `bool` of a value that is not
one of the known spellings is an error, not Ansible's deprecated `value == 1`. YAML is
written by PyYAML's safe dumper (its C emitter when present), as Ansible writes it.

The ipaddr family (`ipaddr`, `ipv4`, `ipv6`, `ipwrap`, from the ansible.utils collection,
which needs netaddr) is here without netaddr, on the standard `ipaddress` module: strings
and lists of strings, the queries listed in IP_QUERIES; an integer is not taken as an
address.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import ipaddress
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import cache
from typing import Any


class FilterError(ValueError):
    """A filter refused its input (the template's renderer reports it with its place)."""


def _text(value: Any) -> str:
    """Ansible's to_text for filter input: bytes decoded, anything else str()."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value if isinstance(value, str) else str(value)


def _bytes(value: Any, encoding: str = "utf-8") -> bytes:
    if isinstance(value, bytes):
        return value
    return _text(value).encode(encoding, "surrogateescape")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Collection) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(value: Any, **kwargs: Any) -> str:
    """JSON, as json.dumps writes it (dates as ISO text, sets and tuples as lists)."""
    return json.dumps(value, default=_json_default, **kwargs)


def to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **kwargs: Any) -> str:
    """Indented JSON with sorted keys."""
    kwargs.pop("separators", None)
    return to_json(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kwargs)


@cache
def _dumper() -> Any:
    """The safe dumper, with any mapping written as a dict and any collection as a list
    (PyYAML is imported by the first to_yaml: most plans never use it)."""
    import yaml  # noqa: PLC0415 - lazy: ~15 ms of every process's start otherwise

    base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    dumper: Any = type("_Dumper", (base,), {})
    dumper.add_multi_representer(Mapping, dumper.represent_dict)
    dumper.add_multi_representer(Collection, dumper.represent_list)
    return dumper


def to_yaml(value: Any, *_args: Any, default_flow_style: bool | None = None, **kwargs: Any) -> str:
    """Terse YAML: collections of scalars in flow style."""
    import yaml  # noqa: PLC0415 - lazy, as in _dumper

    text = yaml.dump(
        value,
        Dumper=_dumper(),
        allow_unicode=True,
        default_flow_style=default_flow_style,
        **kwargs,
    )
    return str(text)


def to_nice_yaml(
    value: Any, indent: int = 4, *_args: Any, default_flow_style: bool = False, **kwargs: Any
) -> str:
    """Block-style YAML indented by `indent`."""
    return to_yaml(value, indent=indent, default_flow_style=default_flow_style, **kwargs)


def from_json(value: Any, **kwargs: Any) -> Any:
    """Parse JSON text."""
    return json.loads(value, **kwargs)


def b64encode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    """Base64 of the text encoded as `encoding`."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(_bytes(value, encoding)).decode("ascii")


def b64decode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    """The text whose base64 `value` is, decoded as `encoding`."""
    decode = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    try:
        data = decode(_bytes(value))
    except (binascii.Error, ValueError) as exc:
        raise FilterError(f"b64decode: {exc}") from None
    return data.decode(encoding, "surrogateescape")


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.IGNORECASE if ignorecase else 0) | (re.MULTILINE if multiline else 0)


def regex_replace(
    value: Any = "",
    pattern: str = "",
    replacement: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: int = 0,
    mandatory_count: int = 0,
) -> str:
    """re.sub; with `mandatory_count`, exactly that many replacements or an error."""
    compiled = re.compile(pattern, _flags(ignorecase, multiline))
    text, made = compiled.subn(replacement, _text(value), count=count)
    if mandatory_count and mandatory_count != made:
        raise FilterError(f"{pattern!r} should match {mandatory_count} times, but matches {made}")
    return text


def regex_search(value: Any, regex: str, *groups: str, **flags: Any) -> Any:
    """The first match, or a list of the groups named by `\\N` / `\\g<name>`; None if none."""
    wanted: list[int | str] = []
    for group in groups:
        named = re.match(r"\\g<(\S+)>", group)
        number = re.match(r"\\(\d+)", group)
        if named:
            wanted.append(named.group(1))
        elif number:
            wanted.append(int(number.group(1)))
        else:
            raise FilterError(f"regex_search: unknown argument {group!r} (use \\N or \\g<name>)")
    flag = _flags(bool(flags.get("ignorecase")), bool(flags.get("multiline")))
    match = re.search(regex, _text(value), flag)
    if match is None:
        return None
    return [match.group(g) for g in wanted] if wanted else match.group()


def regex_findall(value: Any, regex: str, multiline: bool = False, ignorecase: bool = False) -> Any:
    """re.findall."""
    return re.findall(regex, _text(value), _flags(ignorecase, multiline))


def regex_escape(value: Any, re_type: str = "python") -> str:
    """The text with regular expression characters escaped (python or posix_basic)."""
    if re_type == "python":
        return re.escape(_text(value))
    if re_type == "posix_basic":
        return re.sub(r"([].[^$*\\])", r"\\\1", _text(value))
    raise FilterError(f"regex_escape: unsupported regex type {re_type!r}")


def basename(path: Any) -> str:
    """The last component of a POSIX path."""
    return _text(posixpath.basename(path))


def dirname(path: Any) -> str:
    """A POSIX path without its last component."""
    return _text(posixpath.dirname(path))


_TRUE = frozenset({"yes", "on", "true", "1"})
_FALSE = frozenset({"no", "off", "false", "0"})


def to_bool(value: Any) -> bool:
    """yes/on/true/1 (any case, or the int or bool) are true; no/off/false/0 false."""
    word = value.lower() if isinstance(value, str) else value
    if isinstance(value, int):
        word = str(value).lower()
    if isinstance(word, str) and word in _TRUE:
        return True
    if isinstance(word, str) and word in _FALSE:
        return False
    raise FilterError(f"bool: {value!r} is none of yes/no, on/off, true/false, 1/0")


def quote(value: Any) -> str:
    """Quoted for a POSIX shell (None as '')."""
    return shlex.quote("" if value is None else _text(value))


def get_hash(value: Any, hashtype: str = "sha1") -> str:
    """The hex digest of the text by any algorithm hashlib knows."""
    try:
        digest = hashlib.new(hashtype)
    except (ValueError, TypeError) as exc:
        raise FilterError(f"hash: {exc}") from None
    digest.update(_bytes(value))
    return digest.hexdigest()


def ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    """true_val if value, else false_val (none_val for None when given)."""
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


_LIST_MERGES = ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp")


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def flatten(items: Any, levels: int | None = None, skip_nulls: bool = True) -> list[Any]:
    """Nested lists made flat (`levels` deep at most); None and 'None'/'null' dropped."""
    flat: list[Any] = []
    for item in items:
        if skip_nulls and item in (None, "None", "null"):
            continue
        if _is_list(item) and (levels is None or levels >= 1):
            deeper = None if levels is None else int(levels) - 1
            flat.extend(flatten(item, levels=deeper, skip_nulls=skip_nulls))
        else:
            flat.append(item)
    return flat


def combine(*terms: Any, recursive: bool = False, list_merge: str = "replace") -> Any:
    """Mappings merged left to right (later keys win); `recursive` merges nested mappings,
    `list_merge` says what two lists under one key become."""
    if list_merge not in _LIST_MERGES:
        raise FilterError(f"combine: list_merge must be one of {', '.join(_LIST_MERGES)}")
    mappings = flatten(terms, levels=1)
    if not mappings:
        return {}
    for item in mappings:
        if not isinstance(item, Mapping):
            raise FilterError(f"combine: expected mappings, got {type(item).__name__}")
    merged = mappings[0]
    for item in mappings[1:]:
        merged = _merge(merged, item, recursive, list_merge)
    return merged


def _merge(low: Mapping[Any, Any], high: Mapping[Any, Any], recursive: bool, lists: str) -> Any:
    result = dict(low)
    for key, value in high.items():
        if key not in result:
            result[key] = value
            continue
        old = result[key]
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            result[key] = _merge(old, value, recursive, lists) if recursive else value
        elif _is_list(old) and _is_list(value):
            result[key] = _merge_lists(list(old), list(value), lists)
        else:
            result[key] = value
    return result


def _merge_lists(low: list[Any], high: list[Any], how: str) -> list[Any]:
    if how == "keep":
        return low
    if how == "append":
        return low + high
    if how == "prepend":
        return high + low
    if how == "append_rp":
        return [item for item in low if item not in high] + high
    if how == "prepend_rp":
        return high + [item for item in low if item not in high]
    return high


def dict2items(mapping: Any, key_name: str = "key", value_name: str = "value") -> list[Any]:
    """[{key: k, value: v}, ...] of a mapping, in its order."""
    if not isinstance(mapping, Mapping):
        raise FilterError(f"dict2items requires a mapping, got {type(mapping).__name__}")
    return [{key_name: key, value_name: value} for key, value in mapping.items()]


def items2dict(items: Any, key_name: str = "key", value_name: str = "value") -> dict[Any, Any]:
    """The mapping of a list of {key: k, value: v} items (dict2items reversed)."""
    if not _is_list(items):
        raise FilterError(f"items2dict requires a list, got {type(items).__name__}")
    try:
        return {item[key_name]: item[value_name] for item in items}
    except (KeyError, TypeError):
        message = f"items2dict requires mappings with the keys {key_name!r} and {value_name!r}"
        raise FilterError(message) from None


# --- the ipaddr family, on the standard library ---------------------------------------------

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _interface(value: Any) -> tuple[Interface, bool] | None:
    """(the address with its prefix, whether a prefix was written), None for no address."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return ipaddress.ip_interface(value), "/" in value
    except ValueError:
        return None


def _address(iface: Interface, _prefixed: bool) -> str | None:
    network = iface.network
    if network.num_addresses == 1 or iface.version == 6:
        return str(iface.ip)
    if iface.ip != network.network_address or network.num_addresses <= 2:
        return str(iface.ip)
    return None


def _host(iface: Interface, _prefixed: bool) -> str | None:
    network = iface.network
    usable = iface.ip != network.network_address or network.num_addresses <= 2
    return str(iface) if usable else None


def _plain(iface: Interface, prefixed: bool) -> str:
    return str(iface) if prefixed else str(iface.ip)


def _wrap(iface: Interface, prefixed: bool) -> str:
    if iface.version == 4:
        return _plain(iface, prefixed)
    wrapped = f"[{iface.ip}]"
    return f"{wrapped}/{iface.network.prefixlen}" if prefixed else wrapped


def _public(iface: Interface, prefixed: bool) -> str | None:
    ip = iface.ip
    public = ip.is_global and not ip.is_multicast and not ip.is_loopback
    return _plain(iface, prefixed) if public else None


def _private(iface: Interface, prefixed: bool) -> str | None:
    return None if iface.ip.is_global else _plain(iface, prefixed)


IP_QUERIES: dict[str, Callable[[Interface, bool], Any]] = {
    "": _plain,
    "address": _address,
    "ip": _address,
    "host": _host,
    "network": lambda iface, _p: str(iface.network.network_address),
    "subnet": lambda iface, _p: str(iface.network),
    "prefix": lambda iface, _p: iface.network.prefixlen,
    "netmask": lambda iface, _p: str(iface.network.netmask),
    "version": lambda iface, _p: iface.version,
    "size": lambda iface, _p: iface.network.num_addresses,
    "public": _public,
    "private": _private,
    "wrap": _wrap,
}


def ipaddr(value: Any, query: str = "", version: int | None = None) -> Any:
    """An address or network (`addr` or `addr/prefix`) queried; False when it is none (or not
    of `version`); a list gives the list of its items' truthy answers."""
    if _is_list(value):
        answers = [ipaddr(item, query, version) for item in value]
        return [answer for answer in answers if answer]
    if query not in IP_QUERIES:
        known = ", ".join(repr(q) for q in IP_QUERIES)
        raise FilterError(f"ipaddr: unsupported query {query!r}; supported: {known}")
    parsed = _interface(value)
    if parsed is None or (version is not None and parsed[0].version != version):
        return False
    answer = IP_QUERIES[query](*parsed)
    return False if answer is None else answer


def ipv4(value: Any, query: str = "") -> Any:
    """ipaddr, for IPv4 only."""
    return ipaddr(value, query, 4)


def ipv6(value: Any, query: str = "") -> Any:
    """ipaddr, for IPv6 only."""
    return ipaddr(value, query, 6)


def ipwrap(value: Any) -> Any:
    """IPv6 addresses in [brackets] (`[addr]/prefix` for a network); anything else as it is."""
    if _is_list(value):
        return [ipwrap(item) for item in value]
    wrapped = ipaddr(value, "wrap")
    return wrapped if wrapped else value


FILTERS: dict[str, Callable[..., Any]] = {
    "b64decode": b64decode,
    "b64encode": b64encode,
    "basename": basename,
    "bool": to_bool,
    "combine": combine,
    "dict2items": dict2items,
    "dirname": dirname,
    "flatten": flatten,
    "from_json": from_json,
    "hash": get_hash,
    "ipaddr": ipaddr,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "ipwrap": ipwrap,
    "items2dict": items2dict,
    "quote": quote,
    "regex_escape": regex_escape,
    "regex_findall": regex_findall,
    "regex_replace": regex_replace,
    "regex_search": regex_search,
    "ternary": ternary,
    "to_json": to_json,
    "to_nice_json": to_nice_json,
    "to_nice_yaml": to_nice_yaml,
    "to_yaml": to_yaml,
}
