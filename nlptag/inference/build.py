"""Networks built from their specs: ``{"class_path": ..., "init_args": {...}}`` trees of plain
values, as bundles store them. Only classes of the allow-list are imported (checked before any
import); a constructor argument typed as a callable (a factory, e.g. ``embedder``) receives the
class with its arguments bound, any other class-typed argument an instance.
"""

from __future__ import annotations

import collections.abc
import functools
import importlib
import inspect
import typing
from typing import Any

from nlptag.errors import NlptagError
from nlptag.inference.allowlist import NETWORK_CLASSES, check_class_paths


def _is_spec(value: Any) -> bool:
    return isinstance(value, dict) and "class_path" in value


def _import(class_path: str) -> type:
    module_name, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def _wants_factory(annotation: Any) -> bool:
    """Whether a parameter annotation is a callable type (or an optional one)."""
    if typing.get_origin(annotation) is collections.abc.Callable:
        return True
    return any(_wants_factory(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _build(spec: dict, where: str, as_factory: bool, given: dict[str, Any]) -> Any:
    cls = _import(spec["class_path"])
    hints = typing.get_type_hints(cls.__init__)
    parameters = inspect.signature(cls).parameters
    arguments: dict[str, Any] = {}
    for name, value in (spec.get("init_args") or {}).items():
        if name not in parameters:
            raise NlptagError(f"{where}: {spec['class_path']} has no argument {name!r}")
        factory = _wants_factory(hints.get(name))
        if _is_spec(value):
            value = _build(value, where, factory, {})
        elif factory and isinstance(value, str):
            raise NlptagError(
                f"{where}: argument {name!r} of {spec['class_path']} must be a "
                f'{{"class_path": ...}} object, not the string {value!r}'
            )
        arguments[name] = value
    arguments.update(given)
    if as_factory:
        return functools.partial(cls, **arguments)
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as error:
        raise NlptagError(f"{where}: cannot build {spec['class_path']} ({error})") from None


def build(spec: dict, where: str, **given: Any) -> Any:
    """The object a spec describes (``given`` adds or overrides top-level arguments). Every class
    path in the spec must be in :data:`NETWORK_CLASSES`; it is checked before any import."""
    if not _is_spec(spec):
        raise NlptagError(f"{where}: expected a {{'class_path': ..., 'init_args': ...}} object")
    check_class_paths(spec, where, NETWORK_CLASSES)
    return _build(spec, where, False, given)
