"""Lifetime and re-entrancy rules for every object that owns a SpanDSP state.

SpanDSP calls back into Python from inside ``fax_rx``, ``t38_terminal_send_timeout`` and friends.
Three things would crash or mislead without care, and this base class handles them once:

* freeing the C state while C is still running (``close()`` from inside a callback) - the free
  is deferred until the C call returns;
* calling into the same state again from inside a callback - refused with ``ReentrantCallError``;
* exceptions raised in a callback - cffi would print them and return 0 to C; they are kept and
  raised from the Python method that drove the C call, so the caller sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from faxgw.sip.fax.binding import ffi


class FaxError(Exception):
    """Base class for errors from the fax engine binding."""


class SessionClosedError(FaxError):
    """The object was closed; its SpanDSP state is gone."""


class ReentrantCallError(FaxError):
    """A driving method was called from inside one of the same object's callbacks."""


class NativeState:
    """Owns one SpanDSP state (``_state``); subclasses say how to free it in ``_free``."""

    _state: Any = None

    def __init__(self) -> None:
        # The handle is what C gets as user_data; it must outlive every callback.
        self._handle = ffi.new_handle(self)
        self._in_native = False
        self._close_requested = False
        self._pending_error: BaseException | None = None
        self._keepalive: list[object] = []

    # -- lifetime ---------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._state is None

    def close(self) -> None:
        """Free the SpanDSP state. Safe to call twice, and from inside a callback."""
        if self._state is None:
            return
        if self._in_native:
            self._close_requested = True
            return
        state, self._state = self._state, None
        self._free(state)
        self._keepalive.clear()

    def _free(self, state: Any) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", None) is not None and not getattr(self, "_in_native", False):
            self.close()

    # -- calling into C ---------------------------------------------------------------------
    def _native(self) -> _Guard:
        """Wrap every call into SpanDSP (``with self._native() as state:``): yields the live state, then
        surfaces callback errors."""
        return _Guard(self)

    def _capture(self, error: BaseException) -> None:
        """Called from a callback: remember the first error, C carries on safely."""
        if self._pending_error is None:
            self._pending_error = error

    def _raise_pending(self) -> None:
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error


class _Guard:
    """The context manager of ``NativeState._native``. A class, not ``contextlib.contextmanager``: the
    media path enters it for every call 50 times a second, and a generator-based one costs several
    times as much. Made per use, so that it holds no reference cycle with its owner (whose ``__del__``
    frees C memory)."""

    __slots__ = ("owner",)

    def __init__(self, owner: NativeState) -> None:
        self.owner = owner

    def __enter__(self) -> Any:
        owner = self.owner
        if owner._state is None:
            raise SessionClosedError(f"{type(owner).__name__} is closed")
        if owner._in_native:
            raise ReentrantCallError(
                f"{type(owner).__name__} was driven from inside its own callback; queue the work instead"
            )
        owner._in_native = True
        return owner._state

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        owner = self.owner
        owner._in_native = False
        if owner._close_requested:
            owner._close_requested = False
            owner.close()
        if kind is None:  # an error of the body itself goes first; a callback's waits for the next call
            owner._raise_pending()


def define_callback(c_name: str, method: str, returns: int | None = None) -> Callable[..., int | None]:
    """Implement the ``extern "Python"`` callback ``c_name`` by calling ``method`` on the owner.

    The C signature is ``(state, void *user_data, args...)``; user_data is the owner's handle.
    An exception in the method is kept for the owner to raise later, and C gets ``returns``.
    """

    def callback(state: Any, user_data: Any, *args: Any) -> int | None:
        owner: NativeState = ffi.from_handle(user_data)
        try:
            getattr(owner, method)(*args)
        except BaseException as error:
            owner._capture(error)
        return returns

    callback.__name__ = c_name
    return ffi.def_extern(name=c_name)(callback)
