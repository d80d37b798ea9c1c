"""``@trace_model``: one wrapper shape per kind of function, chosen when it is applied."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, TypeVar

from . import state
from .calls import Call, begin
from .spec import ModelSpec

F = TypeVar("F", bound=Callable[..., Any])


def wrap(func: F, spec: ModelSpec) -> F:
    spec.bind(func)
    if inspect.isasyncgenfunction(func):
        wrapper: Callable[..., Any] = _async_gen_wrapper(func, spec)
    elif inspect.iscoroutinefunction(func):
        wrapper = _async_wrapper(func, spec)
    elif inspect.isgeneratorfunction(func):
        wrapper = _gen_wrapper(func, spec)
    else:
        wrapper = _sync_wrapper(func, spec)
    functools.update_wrapper(wrapper, func)
    wrapper.__modeltrace_spec__ = spec  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _sync_wrapper(func: Callable[..., Any], spec: ModelSpec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = begin(spec, args, kwargs)
        if call is None:
            return func(*args, **kwargs)
        call.resume()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc, state.now_ns())
            raise
        call.finish(result, state.now_ns())
        return result

    return wrapper


def _async_wrapper(func: Callable[..., Awaitable[Any]], spec: ModelSpec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = begin(spec, args, kwargs)
        if call is None:
            return await func(*args, **kwargs)
        try:
            if call.profile is None:
                call.resume()
                result = await func(*args, **kwargs)
            else:
                result = await _profiled(func(*args, **kwargs), call)
        except BaseException as exc:
            call.fail(exc, state.now_ns())
            raise
        call.finish(result, state.now_ns())
        return result

    return wrapper


@types.coroutine
def _profiled(awaitable: Any, call: Call) -> Generator[Any, Any, Any]:
    """Drive a coroutine step by step, profiling only while it runs.

    Profiling the whole ``await`` would charge this call with whatever other tasks the
    event loop runs while it is suspended.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        call.resume()
        try:
            yielded = awaitable.send(value) if error is None else awaitable.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            call.suspend()
        try:
            value, error = (yield yielded), None
        except BaseException as exc:
            value, error = None, exc


def _gen_wrapper(func: Callable[..., Generator[Any, Any, Any]], spec: ModelSpec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        call = begin(spec, args, kwargs, stream=True)
        if call is None:
            return (yield from func(*args, **kwargs))
        try:
            gen = func(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc, state.now_ns())
            raise
        value: Any = None
        error: BaseException | None = None
        while True:
            call.resume()
            try:
                item = gen.send(value) if error is None else gen.throw(error)
            except StopIteration as stop:
                call.finish(None, state.now_ns())
                return stop.value
            except BaseException as exc:
                call.fail(exc, state.now_ns())
                raise
            call.suspend()
            call.observe_item(item)
            try:
                value, error = (yield item), None
            except GeneratorExit:
                # The consumer stopped early: close the model's generator inside the span.
                call.resume()
                try:
                    gen.close()
                except BaseException as exc:
                    call.fail(exc, state.now_ns())
                    raise
                call.finish(None, state.now_ns())
                raise
            except BaseException as exc:
                value, error = None, exc

    return wrapper


def _async_gen_wrapper(func: Callable[..., AsyncGenerator[Any, Any]], spec: ModelSpec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        call = begin(spec, args, kwargs, stream=True)
        if call is None:
            async for item in _passthrough(func(*args, **kwargs)):
                yield item
            return
        try:
            agen = func(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc, state.now_ns())
            raise
        value: Any = None
        error: BaseException | None = None
        while True:
            step = agen.asend(value) if error is None else agen.athrow(error)
            try:
                if call.profile is None:
                    call.resume()
                    try:
                        item = await step
                    finally:
                        call.suspend()
                else:
                    item = await _profiled(step, call)
            except StopAsyncIteration:
                call.finish(None, state.now_ns())
                return
            except BaseException as exc:
                call.fail(exc, state.now_ns())
                raise
            call.observe_item(item)
            try:
                value, error = (yield item), None
            except GeneratorExit:
                call.resume()
                try:
                    await agen.aclose()
                except BaseException as exc:
                    call.fail(exc, state.now_ns())
                    raise
                call.finish(None, state.now_ns())
                raise
            except BaseException as exc:
                value, error = None, exc

    return wrapper


async def _passthrough(agen: AsyncGenerator[Any, Any]) -> AsyncGenerator[Any, Any]:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            item = await (agen.asend(value) if error is None else agen.athrow(error))
        except StopAsyncIteration:
            return
        try:
            value, error = (yield item), None
        except GeneratorExit:
            await agen.aclose()
            raise
        except BaseException as exc:
            value, error = None, exc
