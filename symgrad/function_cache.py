"""Caches keyed on user functions that live exactly as long as those functions.

`jvp` and `vjp` take a plain function each call and reuse what they compiled
for it; a loop making a fresh lambda per call must not keep every compiled
kernel (and whatever the lambdas close over) alive. Entries are keyed
weakly on the function and hold it only through a `WeakFunction`, so an
entry goes when its function goes.
"""

from __future__ import annotations

import collections
import inspect
import threading
import weakref
from collections.abc import Callable
from typing import Any


class WeakFunction:
    """Calls a function through a weak reference, with its name and signature.

    A cache entry keyed on a user's function holds this instead of the
    function, so that the entry (its kernels, and what the function closes
    over) goes when the function goes.
    """

    def __init__(self, fun: Callable):
        self._ref = weakref.ref(fun)
        self.__name__ = getattr(fun, "__name__", None) or type(fun).__name__
        self.__doc__ = getattr(fun, "__doc__", None)
        try:
            self.__signature__ = inspect.signature(fun)
        except (TypeError, ValueError):
            pass

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fun = self._ref()
        if fun is None:  # the cache drops the entry first; reaching this is a bug
            raise ReferenceError(f"`{self.__name__}` was garbage-collected while a transformation of it ran")
        return fun(*args, **kwargs)


class FunctionCache:
    """One transformed callable per user function (for `jvp`, `vjp`), as long as that function lives.

    Functions that can be weakly referenced (plain functions, lambdas) are
    keyed weakly; others (bound methods, which are made afresh on each
    attribute access, and builtins) go to a small LRU of strong references.
    """

    STRONG_LIMIT = 32

    def __init__(self) -> None:
        self._weak: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._strong: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, fun: Callable, make: Callable[[Callable], Any]) -> Any:
        weak = not inspect.ismethod(fun)
        if weak:
            try:
                found = self._weak.get(fun)
            except TypeError:  # cannot be weakly referenced (or hashed)
                weak = False
            else:
                if found is None:
                    with self._lock:
                        found = self._weak.setdefault(fun, make(WeakFunction(fun)))
                return found
        try:
            found = self._strong.get(fun)
        except TypeError:  # unhashable callable: no caching
            return make(fun)
        with self._lock:
            if found is None:
                found = self._strong.setdefault(fun, make(fun))
            self._strong.move_to_end(fun)
            while len(self._strong) > self.STRONG_LIMIT:
                self._strong.popitem(last=False)
        return found

    def __len__(self) -> int:
        return len(self._weak) + len(self._strong)

    def clear(self) -> None:
        with self._lock:
            self._weak.clear()
            self._strong.clear()
