"""Argument checks shared by the memories: each failure is a :class:`MemoryArgumentError`."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from victor_core.exceptions import MemoryArgumentError

#: Most items one ``recent`` or ``search`` call may return.
MAX_LIMIT = 10_000


def _frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _bad(argument: str, value: Any, accepts: str) -> MemoryArgumentError:
    return MemoryArgumentError(
        f"{argument} must be {accepts} (got {value!r})", argument=argument, value=value
    )


def _check_text(argument: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(argument, value, "a non-empty string")
    return value


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", limit, f"an int between 1 and {MAX_LIMIT}")
    return limit


def _check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise _bad("query", query, "a string")
    return query


def _check_days(days: Any) -> float:
    ok = isinstance(days, (int, float)) and not isinstance(days, bool)
    if not ok or not math.isfinite(days) or days < 0:
        raise _bad("days", days, "a number of days, 0 or more")
    return float(days)


def _check_json(argument: str, value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryArgumentError(
            f"{argument} must hold JSON values only (str, number, bool, None, list, dict): {exc}",
            argument=argument,
            value=value,
        ) from None
    return value


def _check_actions(actions: Any) -> tuple[Any, ...]:
    if actions is None:
        return ()
    if isinstance(actions, str):
        return (actions,)
    if isinstance(actions, (bytes, dict)) or not isinstance(actions, Iterable):
        raise _bad("actions", actions, "a list of actions (JSON values)")
    return tuple(_check_json("actions", list(actions)))
