"""A worker that "trains" by copying one real checkpoint (weights + manifest) into its run folder.

The on-chain tests need weights a real trainer wrote (the manifest carries the embedding) without
training again: spec keys ``replay_from`` (a checkpoint's ``.safetensors`` path) and the usual
``out_dir``. It speaks the worker's event protocol, like the real one.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from soma_console.training.events import CheckpointSaved, Finished, Started, emit


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    src = Path(spec["replay_from"])
    out = Path(spec["out_dir"]) / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)
    step = int(json.loads(src.with_suffix(".json").read_text())["step"])
    emit(
        Started(
            run=spec["run"], framework="torch", device="cpu", preset="tiny", total_steps=step, start_step=0
        )
    )
    weights = out / src.name
    shutil.copyfile(src, weights.with_suffix(".tmp"))
    weights.with_suffix(".tmp").replace(weights)
    shutil.copyfile(src.with_suffix(".json"), weights.with_suffix(".json"))
    emit(CheckpointSaved(step=step, path=str(weights), manifest=str(weights.with_suffix(".json")), size=1))
    emit(Finished(step=step, final_path=str(weights), elapsed_s=0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
