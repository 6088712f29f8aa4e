"""trio-asyncio's deprecation helpers, for the names compat keeps for old code.

trio-asyncio marked names it was dropping with ``TrioAsyncioDeprecationWarning``
(a ``FutureWarning``, so users see it) and documented them with a
``.. deprecated::`` note; compat does the same for the names it keeps only
because trio-asyncio still had them (its policy, its child watcher), and code
that built its own deprecations on ``trio_asyncio._deprecate`` keeps working.
"""

from __future__ import annotations

import functools
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "DeprecatedAttribute",
    "TrioAsyncioDeprecationWarning",
    "deprecated",
    "deprecated_alias",
    "enable_attribute_deprecations",
    "warn_deprecated",
]

F = TypeVar("F", bound=Callable[..., Any])

_ISSUES = "https://github.com/python-trio/trio-asyncio/issues/"


class TrioAsyncioDeprecationWarning(FutureWarning):
    """A trio-asyncio name or usage that is going away."""


def _describe(thing: object) -> str:
    if callable(thing) and hasattr(thing, "__qualname__"):
        return f"{thing.__module__}.{thing.__qualname__}"
    return str(thing)


def warn_deprecated(
    thing: object,
    version: str,
    *,
    issue: int | None,
    instead: object,
    stacklevel: int = 2,
) -> None:
    """Warn that ``thing`` is deprecated; ``stacklevel`` counts from the
    caller of this function, as ``warnings.warn``'s does."""
    message = f"{_describe(thing)} is deprecated since trio-asyncio {version}"
    if instead is None:
        message += " with no replacement"
    else:
        message += f"; use {_describe(instead)} instead"
    if issue is not None:
        message += f" ({_ISSUES}{issue})"
    warnings.warn(TrioAsyncioDeprecationWarning(message), stacklevel=stacklevel + 1)


def _deprecation_note(version: str, issue: int | None, instead: object) -> str:
    note = f"\n\n.. deprecated:: {version}\n"
    if instead is not None:
        note += f"   Use {_describe(instead)} instead.\n"
    if issue is not None:
        note += f"   For details, see `issue #{issue} <{_ISSUES}{issue}>`__.\n"
    return note + "\n"


def deprecated(
    version: str, *, thing: object = None, issue: int | None, instead: object
) -> Callable[[F], F]:
    """Decorate a function so that calling it warns (and its docstring says so)."""

    def decorate(fn: F) -> F:
        what = fn if thing is None else thing

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            warn_deprecated(what, version, issue=issue, instead=instead)
            return fn(*args, **kwargs)

        if wrapper.__doc__ is not None:
            wrapper.__doc__ = wrapper.__doc__.rstrip() + _deprecation_note(
                version, issue, instead
            )
        return wrapper  # type: ignore[return-value]

    return decorate


def deprecated_alias(
    old_qualname: str, new_fn: F, version: str, *, issue: int | None
) -> F:
    """A deprecated old name for ``new_fn``."""

    @deprecated(
        version,
        thing=f"{new_fn.__module__}.{old_qualname}",
        issue=issue,
        instead=new_fn,
    )
    @functools.wraps(new_fn)
    def alias(*args: Any, **kwargs: Any) -> Any:
        return new_fn(*args, **kwargs)

    alias.__doc__ = f"Deprecated alias for {_describe(new_fn)}."
    alias.__doc__ += _deprecation_note(version, issue, new_fn)
    return alias  # type: ignore[return-value]


class DeprecatedAttribute:
    """A module attribute that warns when read (see
    ``enable_attribute_deprecations``); by default it names its value as
    what to use instead."""

    _NOT_GIVEN: Any = object()

    def __init__(
        self,
        value: object,
        version: str,
        *,
        issue: int | None,
        instead: object = _NOT_GIVEN,
    ) -> None:
        self.value = value
        self.version = version
        self.issue = issue
        self.instead = value if instead is self._NOT_GIVEN else instead


class _ModuleWithDeprecations(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        attributes = self.__dict__.get("__deprecated_attributes__", {})
        if name in attributes:
            attribute = attributes[name]
            warn_deprecated(
                f"{self.__name__}.{name}",
                attribute.version,
                issue=attribute.issue,
                instead=attribute.instead,
            )
            return attribute.value
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


def enable_attribute_deprecations(module_name: str) -> None:
    """Make the module's ``__deprecated_attributes__`` (a dict of name to
    ``DeprecatedAttribute``) readable as attributes that warn."""
    sys.modules[module_name].__class__ = _ModuleWithDeprecations
