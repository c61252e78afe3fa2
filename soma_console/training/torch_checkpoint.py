"""The torch trainer's checkpoints: what one holds, its snapshot and background write, the resume state.

A checkpoint is the weights (safetensors, canonical layout) plus a torch state file with the
optimizer, every rank's RNGs and the data stream's position. Only rank 0 writes; the training
loop stalls only to queue the host copies (:func:`take_checkpoint`), and a
:class:`CheckpointJob` on the writer thread finishes the evaluation, the files and the events.
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from soma_models.v1.torch import Model, SIGReg

from soma_console.training import events as ev
from soma_console.training.checkpoint import CheckpointRecord, TensorEntry, publish_final, save_checkpoint
from soma_console.training.checkpoint_async import HostSnapshot, Source
from soma_console.training.data_heldout import HeldOut
from soma_console.training.data_stream import StreamState
from soma_console.training.fast import PendingEval, canonical_layout, evaluate_launch, numpy_dtype

if TYPE_CHECKING:
    from soma_console.training.torch_trainer import Trainer


def remove_stale_temp_files(checkpoint_dir: Path) -> int:
    """Delete the temp files a killed writer left (``.NAME.*.tmp``): the next write starts anew."""
    removed = 0
    if not checkpoint_dir.is_dir():
        return 0
    for entry in checkpoint_dir.iterdir():
        if entry.name.startswith(".") and entry.name.endswith((".tmp", ".link")) and entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed


def stream_state_dict(state: StreamState) -> dict[str, Any]:
    return {
        **state.position(),
        "buffer": np.stack(state.buffer) if state.buffer else None,
        "rng": state.rng,
    }


def stream_state_from(d: dict[str, Any]) -> StreamState:
    return StreamState(
        cursor=d["cursor"],
        doc_cursor=d["doc_cursor"],
        pending=int(d["pending"]),
        epoch=int(d["epoch"]),
        served=int(d["sequences"]),
        docs=int(d["documents"]),
        buffer=list(d["buffer"]) if d["buffer"] is not None else [],
        rng=d["rng"],
    )


def rng_states(device: torch.device) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def set_rng_states(states: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and states.get("cuda") is not None:
        torch.cuda.set_rng_state(states["cuda"], device)
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])


def take_checkpoint(
    tr: Trainer,
    model: Model,
    sig_reg: SIGReg,
    optimizer: torch.optim.Optimizer,
    step: int,
    stream_state: StreamState,
    split: HeldOut,
    eval_array: np.ndarray,
    *,
    final: bool,
) -> None:
    """Snapshot now, write in the background; the loop stalls only to queue the copies.

    The previous checkpoint's write must be done first (one set of host buffers); the
    evaluation is queued on the device and read by the writer thread.
    """
    spec = tr.spec
    rngs = rng_states(tr.res.device)
    all_rngs: list[Any] = [rngs]
    if tr.d.active:
        all_rngs = [None] * tr.d.world
        dist.all_gather_object(all_rngs, rngs)
    if tr.d.main:
        assert tr.snapshot is not None
        stall_start = time.perf_counter()
        tr.writer.wait()  # one set of host buffers: the previous write must be done
        entries, opt_host = snapshot_training_state(tr.snapshot, model, optimizer)
        if tr.eval_on_device is None:
            tr.eval_on_device = torch.from_numpy(eval_array).to(tr.res.device)
        pending = evaluate_launch(
            model,
            sig_reg,
            tr.eval_on_device,
            spec.eval_batch_size,
            tr.res.device,
            seed=spec.seed,
            sdpa=tr.res.sdpa,
        )
        state = {
            "step": step,
            "tokens": tr.tokens,
            "optimizer": opt_host,
            "rng": all_rngs,
            "stream": stream_state_dict(stream_state),
            "heldout_extra": sorted(split.extra),
            "spec": spec.to_dict(),
        }
        job = CheckpointJob(
            trainer=tr,
            step=step,
            final=final,
            loss=tr.last_loss,
            entries=entries,
            state=state,
            pending=pending,
            stream_position={**stream_state.position(), "source": spec.data},
            eval_tokens=int(eval_array[:, 0].size),
            snapshot=tr.snapshot,
        )
        job.stall_s = time.perf_counter() - stall_start
        tr.writer.submit(job.run)
        if final:
            tr.writer.wait()
    if tr.d.active:
        dist.barrier()


@dataclass
class CheckpointJob:
    """One checkpoint's background half: wait for the copies, then eval result, files, events."""

    trainer: Trainer
    step: int
    final: bool
    loss: float | None
    entries: list[TensorEntry]
    state: dict[str, Any]
    pending: PendingEval
    stream_position: dict[str, Any]
    eval_tokens: int
    snapshot: HostSnapshot
    stall_s: float = 0.0

    def run(self) -> None:
        tr, spec = self.trainer, self.trainer.spec
        self.snapshot.wait()
        eval_loss, eval_ce, embedding = self.pending.result()
        tr.emit(ev.Eval(step=self.step, eval_loss=eval_loss, eval_ce=eval_ce, tokens=self.eval_tokens))
        record = CheckpointRecord(
            step=self.step,
            loss=self.loss,
            eval_loss=eval_loss,
            eval_ce=eval_ce,
            embedding=embedding,
            config=spec.model_config(),
            architecture=spec.architecture,
            spec=spec.to_dict(),
            data_position=self.stream_position,
            framework="torch",
            run=spec.run,
            tokens=self.state["tokens"],
        )
        write_start = time.perf_counter()
        state = self.state
        manifest, mpath = save_checkpoint(
            spec.checkpoint_dir, record, self.entries, lambda fh: torch.save(state, fh)
        )
        write_s = time.perf_counter() - write_start
        state_path = spec.checkpoint_dir / str(manifest.state)
        written = manifest.size + (state_path.stat().st_size if manifest.state else 0)
        tr.last_manifest = manifest
        tr.emit(
            ev.CheckpointSaved(
                step=self.step,
                path=str(spec.checkpoint_dir / manifest.weights),
                manifest=str(mpath),
                loss=self.loss,
                eval_loss=eval_loss,
                size=manifest.size,
                stall_s=self.stall_s,
                write_s=write_s,
                written_bytes=written,
            )
        )
        if self.final:
            fin, fpath = publish_final(spec.checkpoint_dir, manifest)
            tr.last_manifest = fin
            tr.emit(
                ev.CheckpointSaved(
                    step=self.step,
                    path=str(spec.checkpoint_dir / fin.weights),
                    manifest=str(fpath),
                    loss=self.loss,
                    eval_loss=eval_loss,
                    size=fin.size,
                    final=True,
                )
            )


def checkpoint_sources(model: Model, opt_dict: dict[str, Any]) -> list[Source]:
    """What a checkpoint copies: the weights in canonical layout, then every optimizer tensor."""
    sources = [Source(t, transpose) for _, t, transpose in canonical_layout(model)]
    sources += [Source(leaf, group=1) for _, leaf in _optimizer_tensors(opt_dict)]
    return sources


def snapshot_training_state(
    snapshot: HostSnapshot, model: Model, optimizer: torch.optim.Optimizer
) -> tuple[list[TensorEntry], dict[str, Any]]:
    """Start the host copy of the weights and the optimizer state.

    Returns the weights as safetensors entries and the optimizer state dict, both over the host
    buffers: valid once :meth:`HostSnapshot.wait` returns.
    """
    layout = canonical_layout(model)
    opt_dict = optimizer.state_dict()
    host = snapshot.capture(checkpoint_sources(model, opt_dict))
    entries = [
        TensorEntry(name, tuple(buf.shape), numpy_dtype(buf.dtype), _host_fetcher(buf))
        for (name, _, _), buf in zip(layout, host[: len(layout)], strict=True)
    ]
    return entries, _with_tensors(opt_dict, host[len(layout) :])


def _optimizer_tensors(opt_dict: dict[str, Any]) -> list[tuple[tuple[Any, str], torch.Tensor]]:
    """Every tensor of an optimizer state dict, in a fixed order, with where it sits."""
    out: list[tuple[tuple[Any, str], torch.Tensor]] = []
    for idx in sorted(opt_dict["state"], key=str):
        for key in sorted(opt_dict["state"][idx]):
            value = opt_dict["state"][idx][key]
            if isinstance(value, torch.Tensor):
                out.append(((idx, key), value))
    return out


def _with_tensors(opt_dict: dict[str, Any], host: list[torch.Tensor]) -> dict[str, Any]:
    """The optimizer state dict with its tensors replaced by their host copies (same order)."""
    places = [where for where, _ in _optimizer_tensors(opt_dict)]
    state = {idx: dict(entry) for idx, entry in opt_dict["state"].items()}
    for (idx, key), tensor in zip(places, host, strict=True):
        state[idx][key] = tensor
    return {"state": state, "param_groups": copy.deepcopy(opt_dict["param_groups"])}


def _host_fetcher(buf: torch.Tensor) -> Callable[[], np.ndarray]:
    return lambda: buf.numpy()
