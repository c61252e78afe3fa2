"""What soma_sdk really returns, recorded from a live devnet for parser tests.

``tests/data/sdk_shapes/<name>.json`` holds one real return value per SDK call (and one for each
model state), as ``{"call": ..., "returned": ...}``. ``load_shape(name)`` gives it back exactly
as the SDK returned it: ``types.SimpleNamespace`` for namespaces, real dicts (``exchange_rates``
has int keys), tuples (``changed_objects`` entries), bytes. Re-record with
``SOMA_RECORD_SDK_SHAPES=1 python -m pytest tests/devnet/test_sdk_shapes.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

SHAPES_DIR = Path(__file__).resolve().parent.parent / "data" / "sdk_shapes"
_ID = re.compile(r"0x[0-9a-f]{64}")


def to_plain(obj: Any) -> Any:
    """SDK value → JSON-able value that ``from_plain`` turns back into the same thing."""
    if isinstance(obj, SimpleNamespace):
        return {k: to_plain(v) for k, v in vars(obj).items()}
    if isinstance(obj, dict):
        return {"__dict__": [[to_plain(k), to_plain(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [to_plain(x) for x in obj]}
    if isinstance(obj, list):
        return [to_plain(x) for x in obj]
    if isinstance(obj, bytes):
        return {"__bytes__": obj.hex()}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"unexpected SDK value type {type(obj).__name__}")


def from_plain(obj: Any) -> Any:
    if isinstance(obj, list):
        return [from_plain(x) for x in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__dict__"}:
            return {from_plain(k): from_plain(v) for k, v in obj["__dict__"]}
        if set(obj) == {"__tuple__"}:
            return tuple(from_plain(x) for x in obj["__tuple__"])
        if set(obj) == {"__bytes__"}:
            return bytes.fromhex(obj["__bytes__"])
        return SimpleNamespace(**{k: from_plain(v) for k, v in obj.items()})
    return obj


def shape_of(obj: Any) -> Any:
    """The type skeleton of an SDK value: what a parser depends on, without the values."""
    if isinstance(obj, SimpleNamespace):
        fields = vars(obj)
        if fields and all(_ID.fullmatch(k) for k in fields):  # keyed by object ids: a map
            return {"id-map": sorted({json.dumps(shape_of(v), sort_keys=True) for v in fields.values()})}
        return {k: shape_of(v) for k, v in sorted(fields.items())}
    if isinstance(obj, dict):
        return {
            "dict": sorted(
                {(type(k).__name__, json.dumps(shape_of(v), sort_keys=True)) for k, v in obj.items()}
            )
        }
    if isinstance(obj, tuple):
        return {"tuple": [shape_of(x) for x in obj]}
    if isinstance(obj, list):
        return {"list": sorted({json.dumps(shape_of(x), sort_keys=True) for x in obj})}
    return type(obj).__name__


def load_shape(name: str) -> Any:
    data = json.loads((SHAPES_DIR / f"{name}.json").read_text())
    return from_plain(data["returned"])


def save_shape(name: str, call: str, value: Any) -> None:
    SHAPES_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"call": call, "returned": to_plain(value)}, indent=1, sort_keys=False) + "\n"
    (SHAPES_DIR / f"{name}.json").write_text(text)
