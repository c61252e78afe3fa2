"""Resolving ``TrainSpec.data`` into a :class:`~soma_console.training.data_sources.Source`.

The values:

* ``fineweb``: ``HuggingFaceFW/fineweb`` (``sample-10BT``) streamed with ``datasets``, as the
  upstream scripts do (needs internet).
* ``stack-v2`` or ``stack-v2:LANGUAGE``: The Stack v2 (see
  :mod:`soma_console.training.data_stack_v2`).
* a local file or folder: ``.jsonl``/``.json`` and ``.parquet`` through ``datasets``' local loaders
  (``streaming=True``, the ``text`` column), UTF-8 ``.txt``/``.md``/``.rst`` through the ``text``
  loader (paragraphs packed back into blocks of at most 1 MiB), anything else (binary files, text
  that is not UTF-8) read as raw bytes: the tokenizer takes bytes, so every file is data.
* ``builtin``: the running Python's own standard library sources and ``pydoc_data/topics.py``, read
  at run time, so a rehearsal needs no download and the package ships nothing large.

Imports neither torch nor jax.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from soma_console.training.data_sources import DataError, DatasetPart, Part, RawFilePart, Source
from soma_console.training.data_stack_v2 import stack_v2_source

FINEWEB = ("HuggingFaceFW/fineweb", "sample-10BT")
JSON_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")
_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"}


def builtin_files() -> list[Path]:
    """The offline corpus: pydoc topics (English prose) first, then stdlib sources, sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files: list[Path] = []
    topics = root / "pydoc_data" / "topics.py"
    if topics.is_file():
        files.append(topics)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if _SKIP_DIRS & set(rel.parts[:-1]) or path == topics:
            continue
        files.append(path)
    return files


def open_source(data: str) -> Source:
    """Resolve ``TrainSpec.data`` into a :class:`Source` (checks local paths up front)."""
    if data == "builtin":
        root = Path(sysconfig.get_paths()["stdlib"])
        files = builtin_files()
        if not files:
            raise DataError(f"no Python standard library sources were found under {root}.")
        parts: list[Part] = [RawFilePart(p, f"builtin/{p.relative_to(root)}") for p in files]
        return Source(f"builtin (Python {sys.version.split()[0]} standard library)", parts)
    if data == "stack-v2" or data.startswith("stack-v2:"):
        return stack_v2_source(data.partition(":")[2] or None)
    if data == "fineweb":
        name, config = FINEWEB
        return Source(f"{name} ({config})", [DatasetPart(f"{name}/{config}", name, config)])
    return _local_source(Path(data).expanduser())


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return "raw"


def _local_source(path: Path) -> Source:
    if not path.exists():
        raise DataError(f"the data path {path} does not exist; pass an existing file or folder.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        root = path
    else:
        files, root = [path], path.parent
    files = [p for p in files if _size(p) > 0]
    if not files:
        raise DataError(f"the data path {path} holds no non-empty files; add some data.")
    groups: dict[str, list[Path]] = {"json": [], "parquet": [], "text": [], "raw": []}
    for f in files:
        kind = _kind(f)
        if kind == "text" and not _is_utf8(f):
            kind = "raw"  # arrow strings cannot hold arbitrary bytes; the tokenizer can
        groups[kind].append(f)
    parts: list[Part] = []
    for kind in ("json", "parquet", "text"):
        if groups[kind]:
            parts.append(
                DatasetPart(
                    f"{path.name}/{kind}",
                    kind,
                    data_files=[str(f) for f in groups[kind]],
                    text_packing=kind == "text",
                )
            )
    parts.extend(RawFilePart(f, str(f.relative_to(root))) for f in groups["raw"])
    return Source(str(path), parts)


def _is_utf8(path: Path) -> bool:
    """Stream the file through an incremental decoder (never loads it whole)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError):
        return False
    return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
