"""Rewards that survive their own faults, and the one wrapper every reward wrapper builds on.

A reward function that raises or returns NaN/inf on a sample must not stop a training run, nor count
as a score of 0: `GuardedReward` marks those samples unscorable and keeps going, and stops the run
only when a function fails on everything, call after call (a bug, not a model output).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from typing import Any

RewardFunc = Callable[..., list[float | None]]

MAX_CONSECUTIVE_FAILED_CALLS = 3  # a reward failing on every sample this many calls running is a bug: stop

_log = logging.getLogger(__name__)


class RewardWrapper:
    """A reward callable around another: TRL logs it under `name` (default: the wrapped one's
    ``__name__``), and attribute reads reach the wrapped reward (its options, ``failed_indices``,
    ``set_similarity_threshold``). A module-level class, so wrappers pickle like what they wrap."""

    def __init__(self, func: RewardFunc, name: str | None = None) -> None:
        self._func = func
        self.__name__ = name or getattr(func, "__name__", type(func).__name__)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_func":
            raise AttributeError(name)
        return getattr(self._func, name)

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        return self._func(prompts=prompts, completions=completions, **kwargs)

    def __repr__(self) -> str:
        return f"<reward {self.__name__}>"


class GuardedReward(RewardWrapper):
    """A reward callable that survives its function raising or returning NaN/inf.

    A failed call scores every sample None, a NaN/inf score becomes None for that sample; either is logged
    once per distinct error (with the function name, step and sample) and the sample indices are kept in
    ``failed_indices`` for the trainer (``currvl.training.reliability.UnscorableRewardMixin`` leaves those
    samples out of their group baseline). None returned on purpose ("rule does not apply") is passed
    through untouched. A function that fails on every sample ``MAX_CONSECUTIVE_FAILED_CALLS`` calls in a
    row (a missing column, a bad import) raises instead of training on no signal. Keeps ``__name__``
    (TRL logs rewards by it) and pickles like the function it wraps.
    """

    def __init__(self, func: RewardFunc) -> None:
        super().__init__(func)
        self.failed_indices: list[int] = []
        self._seen: set[tuple[str, str]] = set()
        self._failed_calls = 0

    def __repr__(self) -> str:
        return f"<guarded {self._func!r}>"

    def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        self.failed_indices = []
        try:
            raw = self._func(prompts=prompts, completions=completions, **kwargs)
        except Exception as err:
            return self._call_failed(err, len(completions or ()), kwargs)
        return self._clean(raw, kwargs)

    def _step(self, kwargs: dict[str, Any]) -> str:
        state = kwargs.get("trainer_state")
        return f"step {state.global_step + 1}: " if getattr(state, "global_step", None) is not None else ""

    def _warn_once(self, key: tuple[str, str], message: str) -> None:
        if key in self._seen:
            _log.debug(message)
            return
        self._seen.add(key)
        _log.warning("%s (further identical failures are logged at DEBUG level)", message)

    def _call_failed(self, err: Exception, n: int, kwargs: dict[str, Any]) -> list[float | None]:
        self.failed_indices = list(range(n))
        self._failed_calls += 1
        what = f"{type(err).__name__}: {err}"
        if self._failed_calls >= MAX_CONSECUTIVE_FAILED_CALLS:
            raise RuntimeError(
                f"reward {self.__name__!r} failed on every sample {self._failed_calls} calls in a row "
                f"({what}); fix the reward function or the data columns it reads"
            ) from err
        self._warn_once(
            (type(err).__name__, str(err)),
            f"{self._step(kwargs)}reward {self.__name__!r} raised on a batch of {n} samples ({what}); "
            "they are unscorable by it this time",
        )
        return [None] * n

    def _clean(self, raw: Any, kwargs: dict[str, Any]) -> list[float | None]:
        out: list[float | None] = []
        for i, value in enumerate(raw):
            if value is None:
                out.append(None)
                continue
            try:
                score = float(value)
            except (TypeError, ValueError):
                score = math.nan
            if math.isfinite(score):
                out.append(score)
                continue
            out.append(None)
            self.failed_indices.append(i)
            self._warn_once(
                ("non-finite", repr(value)),
                f"{self._step(kwargs)}reward {self.__name__!r} returned {value!r} for sample {i} of "
                f"{len(raw)}; that sample is unscorable",
            )
        all_failed = bool(out) and len(self.failed_indices) == len(out)
        self._failed_calls = self._failed_calls + 1 if all_failed else 0
        if self._failed_calls >= MAX_CONSECUTIVE_FAILED_CALLS:
            raise RuntimeError(
                f"reward {self.__name__!r} returned no finite score for any sample {self._failed_calls} "
                "calls in a row; fix the reward function"
            )
        return out


class AsyncGuardedReward(GuardedReward):
    """``GuardedReward`` for an async reward function (TRL awaits it on its event loop)."""

    async def __call__(
        self, prompts: Any = None, completions: Any = None, **kwargs: Any
    ) -> list[float | None]:
        self.failed_indices = []
        try:
            raw = await self._func(prompts=prompts, completions=completions, **kwargs)
        except Exception as err:
            return self._call_failed(err, len(completions or ()), kwargs)
        return self._clean(raw, kwargs)


def guard_reward(func: RewardFunc) -> GuardedReward:
    """Wrap ``func`` in a ``GuardedReward`` (async-aware; wrapping twice is a no-op)."""
    if isinstance(func, GuardedReward):
        return func
    # an async callable object carries the `async` on its class's __call__
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)
    return AsyncGuardedReward(func) if is_async else GuardedReward(func)
