"""A stand-in for ``python -m soma_console.training.worker`` while that module lives on another branch.

It speaks the real protocol (events from ``soma_console.training.events``) and writes what the real
worker writes: ``checkpoints/checkpoint-<step:08d>.safetensors`` (a real safetensors file) and then
its manifest ``<stem>.json``, both atomically, and ``model-final.*`` at the end. It resumes from the
newest manifested checkpoint with ``--resume`` and ends with an ``error`` event on SIGTERM.

Test knobs in the spec (ignored by the real worker): ``checkpoint_every``, ``sleep_s`` (per step),
``fail_at_step``, ``tensor_bytes`` (size of the saved weights), ``noise`` (non-event lines),
``dump_env`` (a file to write the environment and working directory it was started with to).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save

from soma_console.fsutil import atomic_write_bytes, atomic_write_text
from soma_console.training.events import CheckpointSaved, Error, Finished, Started, Step, emit


def _save(folder: Path, stem: str, step: int, loss: float, nbytes: int, spec: dict) -> tuple[Path, Path]:
    rng = np.random.default_rng(step)
    weights = save({"embed.weight": rng.standard_normal(max(1, nbytes // 4), dtype=np.float32)})
    path = folder / f"{stem}.safetensors"
    manifest = folder / f"{stem}.json"
    atomic_write_bytes(path, weights)
    body = {
        "step": step,
        "loss": loss,
        "eval_loss": loss + 0.05,
        "sha256": hashlib.sha256(weights).hexdigest(),
        "framework": "torch",
        "config": {"preset": spec.get("preset", "tiny")},
    }
    atomic_write_text(manifest, json.dumps(body))
    return path, manifest


def _newest_step(ckpts: Path) -> int:
    best = 0
    for manifest in ckpts.glob("checkpoint-*.json"):
        best = max(best, int(json.loads(manifest.read_text())["step"]))
    return best


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0])
    resume = "--resume" in argv[1:]
    spec = json.loads(spec_path.read_text())
    if spec.get("dump_env"):
        Path(spec["dump_env"]).write_text(json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}))
    out = Path(spec["out_dir"])
    ckpts = out / "checkpoints"
    ckpts.mkdir(parents=True, exist_ok=True)
    total = int(spec["steps"])
    every = int(spec.get("checkpoint_every", 2))
    nbytes = int(spec.get("tensor_bytes", 4096))
    start = _newest_step(ckpts) if resume else 0
    step = start

    def on_term(signum: int, frame: object) -> None:
        emit(Error(error="interrupted", summary="the trainer was stopped by a signal.", step=step))
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    emit(
        Started(
            run=spec["run"],
            framework="torch",
            device="cpu",
            preset=spec.get("preset", "tiny"),
            total_steps=total,
            start_step=start,
            spec=spec,
        )
    )
    t0 = time.time()
    for step in range(start + 1, total + 1):
        time.sleep(float(spec.get("sleep_s", 0.0)))
        loss = 5.0 / step
        if spec.get("noise"):
            print(f"plain log line at step {step}", flush=True)
            print(f"warning on stderr at step {step}", file=sys.stderr, flush=True)
        if step == spec.get("fail_at_step"):
            emit(Error(error="oom", summary=f"CUDA out of memory at step {step}.", step=step, resumable=True))
            return 1
        emit(
            Step(
                step=step,
                total_steps=total,
                loss=loss,
                ce=loss * 0.9,
                sigreg=loss * 0.1,
                lr=1e-4,
                tokens_per_s=1000.0,
                tokens=step * 1024,
                elapsed_s=time.time() - t0,
            )
        )
        if step % every == 0 and step != total:
            path, manifest = _save(ckpts, f"checkpoint-{step:08d}", step, loss, nbytes, spec)
            emit(
                CheckpointSaved(
                    step=step, path=str(path), manifest=str(manifest), loss=loss, size=path.stat().st_size
                )
            )
    path, manifest = _save(out, "model-final", total, 5.0 / max(total, 1), nbytes, spec)
    emit(
        CheckpointSaved(
            step=total, path=str(path), manifest=str(manifest), size=path.stat().st_size, final=True
        )
    )
    emit(Finished(step=total, final_path=str(path), elapsed_s=time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
