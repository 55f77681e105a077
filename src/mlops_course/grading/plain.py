"""Plain data across the boundary between the student's kernel and the grader's.

The student's side turns a result into JSON built only from exact ``None``, ``bool``, ``int``,
``float``, ``str``, lists and dicts, with a few tagged forms (DataFrame, Series, timestamps,
sets). The grader's side turns that JSON back into Python and pandas values. Nothing a student
returns crosses as an object: an always-equal object, a subclass that overrides ``__eq__`` or a
fitted model is refused with a message that names its type.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import PurePath
from typing import Any


class NotPlain(TypeError):
    """A value that is not plain data; the message names its type."""


def _type_name(value: object) -> str:
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def to_plain(value: Any, depth: int = 0) -> Any:
    """The JSON-ready form of ``value`` (student's side). Raises ``NotPlain``."""
    if depth > 50:
        raise NotPlain("data nested more than 50 levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, bool):  # numpy.bool_ is not a bool subclass, but be safe
        return bool.__bool__(value)
    # numpy scalars and arrays, without importing numpy here
    module = kind.__module__
    if module == "numpy" and hasattr(value, "tolist") and kind.__name__ != "ndarray":
        item = value.item()
        if type(item) in (int, float, bool, str):
            return to_plain(item, depth + 1)
    if module == "numpy" and kind.__name__ == "ndarray":
        return [to_plain(item, depth + 1) for item in value.tolist()]
    if isinstance(value, float):  # a subclass: keep the number, drop the class
        return to_plain(float.__float__(value), depth + 1)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if kind in (list, tuple):
        return [to_plain(item, depth + 1) for item in value]
    if kind in (set, frozenset):
        return {"__set__": [to_plain(item, depth + 1) for item in value]}
    if kind is dict:
        if all(type(key) is str for key in value):
            return {key: to_plain(item, depth + 1) for key, item in value.items()}
        return {"__pairs__": [[to_plain(k, depth + 1), to_plain(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, PurePath):
        return str(value)
    if kind.__name__ == "Timestamp" and module.startswith("pandas"):
        return {"__datetime__": value.isoformat()}
    if kind in (_dt.datetime, _dt.date):
        return {"__datetime__": value.isoformat()}
    if kind.__name__ == "DataFrame" and module.startswith("pandas"):
        return {"__dataframe__": {
            "columns": [to_plain(c, depth + 1) for c in value.columns],
            "dtypes": [str(t) for t in value.dtypes],
            "index": [to_plain(i, depth + 1) for i in value.index.tolist()],
            "data": [[to_plain(v, depth + 1) for v in row]
                     for row in value.astype(object).itertuples(index=False, name=None)],
        }}
    if kind.__name__ == "Series" and module.startswith("pandas"):
        return {"__series__": {
            "name": to_plain(value.name, depth + 1),
            "dtype": str(value.dtype),
            "index": [to_plain(i, depth + 1) for i in value.index.tolist()],
            "data": [to_plain(v, depth + 1) for v in value.astype(object).tolist()],
        }}
    if module.startswith("pandas") and kind.__name__ in ("NaTType", "NAType"):
        return None
    raise NotPlain(f"a value of type {_type_name(value)}")


def dumps(value: Any) -> str:
    """``to_plain`` then JSON text."""
    return json.dumps(to_plain(value), allow_nan=False)


def _restore(value: Any) -> Any:
    if isinstance(value, list):
        return [_restore(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__float__"}:
        return float(value["__float__"])
    if set(value) == {"__set__"}:
        return {_hashable(_restore(item)) for item in value["__set__"]}
    if set(value) == {"__pairs__"}:
        return {_hashable(_restore(k)): _restore(v) for k, v in value["__pairs__"]}
    if set(value) == {"__datetime__"}:
        import pandas as pd
        return pd.Timestamp(value["__datetime__"])
    if set(value) == {"__dataframe__"}:
        return _frame(value["__dataframe__"])
    if set(value) == {"__series__"}:
        return _series(value["__series__"])
    return {key: _restore(item) for key, item in value.items()}


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _typed(column: Any, dtype: str) -> Any:
    import pandas as pd
    try:
        if dtype.startswith("datetime64"):
            return pd.to_datetime(column)
        if dtype == "category":
            return column.astype("category")
        if dtype in ("int64", "int32", "float64", "float32", "bool", "Int64", "Float64", "boolean", "str", "string"):
            return column.astype(dtype)
    except (TypeError, ValueError):
        pass
    return column


def _frame(spec: dict[str, Any]) -> Any:
    import pandas as pd
    columns = [_hashable(_restore(c)) for c in spec["columns"]]
    rows = [[_restore(v) for v in row] for row in spec["data"]]
    frame = pd.DataFrame(rows, columns=pd.Index(columns, dtype=object) if columns else None,
                         index=[_hashable(_restore(i)) for i in spec["index"]])
    if not columns:
        return frame
    for position, dtype in enumerate(spec["dtypes"]):
        frame.isetitem(position, _typed(frame.iloc[:, position], dtype))
    return frame


def _series(spec: dict[str, Any]) -> Any:
    import pandas as pd
    series = pd.Series([_restore(v) for v in spec["data"]], index=[_hashable(_restore(i)) for i in spec["index"]],
                       name=_hashable(_restore(spec["name"])), dtype=object)
    return _typed(series, spec["dtype"])


def loads(text: str) -> Any:
    """JSON text from the student's side back to Python and pandas values (grader's side)."""
    return _restore(json.loads(text))
