"""The torch training loop behind the worker (one process per rank).

Only rank 0 talks (events) and writes (checkpoints). Every rank builds the same global
micro-batch from the same seeded stream and trains on its own slice, so the data position is one
number for the whole job and a DDP run means the same as a single process with ``gpus`` times the
micro-batch.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import functools
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from soma_models.v1.torch import Model, ModelConfig, SIGReg, SIGRegConfig
from torch import nn

from soma_console.training import events as ev
from soma_console.training.checkpoint import (
    CheckpointRecord,
    TensorEntry,
    publish_final,
    save_checkpoint,
)
from soma_console.training.checkpoint_async import BackgroundWriter, HostSnapshot, Source, layout_of
from soma_console.training.control import Interrupted
from soma_console.training.data_heldout import HeldOut, heldout_set
from soma_console.training.data_open import open_source
from soma_console.training.data_prefetch import Prefetcher
from soma_console.training.data_stream import StreamState, TrainStream
from soma_console.training.fast import (
    LossModule,
    PendingEval,
    canonical_layout,
    evaluate,
    evaluate_launch,
    numpy_dtype,
)
from soma_console.training.fast_defaults import choose
from soma_console.training.manifest import Manifest, latest_resumable
from soma_console.training.spec import TrainSpec

Emit = Callable[[ev.Event], None]


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


@dataclass(frozen=True)
class Resolved:
    """The fast-path options as they apply on this machine and this run (see ``fast_defaults``)."""

    device: torch.device
    fast: bool
    amp_dtype: torch.dtype | None
    sdpa: bool
    fused_adam: bool
    tf32: bool
    compile: bool
    prefetch: int
    pin_memory: bool
    pos_ids: bool
    log_every: int
    probe_micro_batch: bool = False
    deferred_stats: bool = False
    reasons: dict[str, str] = field(default_factory=dict)
    scoring_objective: bool = False

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["device"] = str(self.device)
        d["amp_dtype"] = str(self.amp_dtype).removeprefix("torch.") if self.amp_dtype else "fp32"
        return d


def pick_device(spec: TrainSpec, rank: int = 0) -> torch.device:
    want = spec.device
    if want == "cuda" and not torch.cuda.is_available():
        from soma_console.errors import UserError

        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto.")
    if torch.cuda.is_available() and want != "cpu":
        return torch.device(f"cuda:{rank % max(1, torch.cuda.device_count())}")
    return torch.device("cpu")


def resolve(
    spec: TrainSpec,
    rank: int = 0,
    *,
    steps_left: int | None = None,
    params: int = 0,
    world: int = 1,
) -> Resolved:
    """The features this run uses: :func:`fast_defaults.choose` on this machine's device."""
    device = pick_device(spec, rank)
    f = spec.fast
    choice = choose(
        device.type,
        f,
        steps_left=spec.steps if steps_left is None else steps_left,
        params=params,
        tokens_per_step=spec.tokens_per_step,
        world=world,
        per_rank_batch=spec.micro_batch * spec.grad_accum,
        micro_batch=spec.micro_batch,
    )
    return Resolved(
        device=device,
        fast=choice.fast,
        amp_dtype=torch.bfloat16 if (choice.fast and choice.precision == "bf16") else None,
        sdpa=choice.sdpa,
        fused_adam=choice.fused_adam,
        tf32=choice.tf32,
        compile=choice.compile,
        prefetch=f.prefetch,
        pin_memory=choice.pin_memory,
        pos_ids=f.pos_ids or f.scoring_objective,
        log_every=f.log_every,
        probe_micro_batch=choice.probe_micro_batch,
        deferred_stats=choice.deferred_stats,
        reasons=choice.reasons,
        scoring_objective=f.scoring_objective,
    )


def build_model(spec: TrainSpec) -> tuple[Model, SIGReg]:
    return Model(ModelConfig(**spec.model_config())), SIGReg(SIGRegConfig())


def lr_at(spec: TrainSpec, step: int) -> float:
    if spec.warmup_steps and step < spec.warmup_steps:
        return spec.learning_rate * (step + 1) / spec.warmup_steps
    return spec.learning_rate


def _stream_state_dict(state: StreamState) -> dict[str, Any]:
    return {
        **state.position(),
        "buffer": np.stack(state.buffer) if state.buffer else None,
        "rng": state.rng,
    }


def _stream_state_from(d: dict[str, Any]) -> StreamState:
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


def _rng_states(device: torch.device) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def _set_rng_states(states: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and states.get("cuda") is not None:
        torch.cuda.set_rng_state(states["cuda"], device)
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])


def init_distributed(d: Dist, device: torch.device, init_method: str | None) -> None:
    if not d.active:
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        init_method=init_method or "env://",
        rank=d.rank,
        world_size=d.world,
        timeout=_dt.timedelta(minutes=30),
    )


# The probe keeps this share of the GPU's memory free for what it does not exercise (allocator
# fragmentation, the checkpoint's evaluation, the snapshot's transposes).
PROBE_HEADROOM = 0.08


def probe_micro_batch(loss_mod: nn.Module, spec: TrainSpec, res: Resolved, per_rank_batch: int) -> int:
    """The largest micro-batch dividing the per-rank batch that survives a forward+backward.

    Adam's two moment buffers do not exist yet when the probe runs, so memory for them is held
    aside during it; a candidate that fits only within the last ``PROBE_HEADROOM`` of the GPU's
    memory is refused too.
    """
    candidates = [m for m in range(per_rank_batch, 0, -1) if per_rank_batch % m == 0]
    seq = spec.max_seq_len
    params = [p for p in loss_mod.parameters() if p.requires_grad]
    cuda = res.device.type == "cuda"
    total = torch.cuda.get_device_properties(res.device).total_memory if cuda else 0
    for m in candidates:
        reserve: list[torch.Tensor] = []
        try:
            reserve = [torch.empty_like(p) for p in params for _ in range(2)]
            if cuda:
                torch.cuda.reset_peak_memory_stats(res.device)
            with torch.random.fork_rng(devices=[res.device] if cuda else []):
                ids = torch.randint(0, 256, (m, seq), device=res.device)
                loss, _, _ = loss_mod(ids, ids)
                loss.backward()
            if cuda and torch.cuda.max_memory_allocated(res.device) > (1 - PROBE_HEADROOM) * total:
                continue
            return m
        except torch.OutOfMemoryError:
            continue
        finally:
            del reserve
            for p in params:
                p.grad = None
            if cuda:
                torch.cuda.empty_cache()
    return 1


def agree_micro_batch(micro_batch: int, d: Dist, device: torch.device) -> int:
    """The smallest probed micro-batch over all ranks (every rank must accumulate the same way)."""
    if not d.active:
        return micro_batch
    t = torch.tensor([micro_batch], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


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


class StepStats:
    """Loss statistics per log window, read without stalling the GPU.

    With ``deferred`` (CUDA) each window's sums are copied to pinned host memory behind an event and
    reported once the GPU has passed them, at most ``lag`` windows late, so the training loop never
    waits for the device just to print a loss. Without it (a CPU, where reading is free) every window
    is read at once.
    """

    def __init__(self, deferred: bool, lag: int = 2) -> None:
        self.deferred = deferred
        self.lag = lag
        self._pending: list[tuple[dict[str, Any], torch.Tensor, Any]] = []

    def push(self, meta: dict[str, Any], sums: torch.Tensor) -> None:
        if not self.deferred:
            self._pending.append((meta, sums.detach().to("cpu", copy=True), None))
            return
        host = torch.empty(sums.shape, dtype=sums.dtype, pin_memory=True)
        host.copy_(sums, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self._pending.append((meta, host, done))

    def ready(self, *, block: bool = False) -> Iterator[tuple[dict[str, Any], list[float]]]:
        """Windows whose values are on the host, oldest first; ``block`` waits for all of them."""
        while self._pending:
            meta, host, done = self._pending[0]
            if done is not None and not done.query():
                if not block and len(self._pending) <= self.lag:
                    return
                done.synchronize()
            self._pending.pop(0)
            yield meta, host.tolist()


class Trainer:
    def __init__(
        self,
        spec: TrainSpec,
        *,
        resume: bool,
        emit: Emit,
        stop: threading.Event,
        d: Dist = Dist(),
        init_method: str | None = None,
        watch: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.resume = resume
        self.d = d
        self._emit = emit
        self.stop = stop
        self.watch = watch or (lambda: None)
        self.res = resolve(spec, d.rank, world=d.world)
        self.init_method = init_method
        self.tokens = 0
        self.last_manifest: Manifest | None = None
        self.last_loss: float | None = None
        self.writer = BackgroundWriter()
        self.snapshot: HostSnapshot | None = None
        self._emit_lock = threading.Lock()
        self._eval_on_device: torch.Tensor | None = None

    def emit(self, event: ev.Event) -> None:
        if self.d.main:
            with self._emit_lock:  # the checkpoint writer's thread emits too
                self._emit(event)

    # -- setup ------------------------------------------------------------------------------------

    def run(self) -> Manifest | None:
        """Train to ``spec.steps``; the final manifest on rank 0, None on the other ranks."""
        spec, d = self.spec, self.d
        init_distributed(d, self.res.device, self.init_method)
        torch.manual_seed(spec.seed)
        random.seed(spec.seed)
        np.random.seed(spec.seed % 2**32)
        if d.main:
            remove_stale_temp_files(spec.checkpoint_dir)

        source = open_source(spec.data)
        n_eval = spec.eval_batch_size * spec.eval_batches
        eval_seqs, split = heldout_set(source, spec.max_seq_len, spec.heldout_fraction, n_eval)
        eval_array = np.stack(eval_seqs)

        model, sig_reg = build_model(spec)
        start_step = 0
        stream_state: StreamState | None = None
        opt_state: dict[str, Any] | None = None
        rng_states: list[dict[str, Any]] | None = None
        prior = latest_resumable(spec.run_dir) if self.resume else None
        if prior is not None:
            model = Model.load(prior.path, ModelConfig(**spec.model_config()))
            state = torch.load(
                prior.manifest_path.parent / str(prior.manifest.state), map_location="cpu", weights_only=False
            )
            start_step = int(state["step"])
            self.tokens = int(state.get("tokens", 0))
            stream_state = _stream_state_from(state["stream"])
            opt_state = state["optimizer"]
            rng_states = state["rng"]
            split = HeldOut(split.fraction, frozenset(state.get("heldout_extra", split.extra)))
        params = sum(p.numel() for p in model.parameters())
        # Now that the run's length and the model's size are known: what the fast path does.
        self.res = res = resolve(
            spec, d.rank, steps_left=max(0, spec.steps - start_step), params=params, world=d.world
        )
        if res.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        model.to(res.device)
        sig_reg.to(res.device)
        model.train()

        loss_mod: nn.Module = LossModule(
            model,
            sig_reg,
            fast=res.fast,
            sdpa=res.sdpa,
            amp_dtype=res.amp_dtype,
            all_positions=res.scoring_objective,
        )
        micro_batch, grad_accum = spec.micro_batch, spec.grad_accum
        if res.probe_micro_batch:
            probed = probe_micro_batch(loss_mod, spec, res, micro_batch * grad_accum)
            micro_batch = agree_micro_batch(probed, d, res.device)
            grad_accum = spec.micro_batch * spec.grad_accum // micro_batch
        ddp: nn.parallel.DistributedDataParallel | None = None
        if d.active:
            ddp = nn.parallel.DistributedDataParallel(
                loss_mod,
                device_ids=[res.device.index] if res.device.type == "cuda" else None,
            )
        step_mod: nn.Module = ddp if ddp is not None else loss_mod
        if res.compile:
            step_mod = torch.compile(step_mod)  # type: ignore[assignment]
        if d.main:
            for what, why in res.reasons.items():
                print(f"fast path: {what} {why}", file=sys.stderr, flush=True)

        opt_kwargs: dict[str, Any] = {"lr": spec.learning_rate}
        if res.fused_adam:
            opt_kwargs["fused"] = True
        optimizer = torch.optim.Adam(model.parameters(), **opt_kwargs)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        if rng_states is not None:
            _set_rng_states(rng_states[min(d.rank, len(rng_states) - 1)], res.device)
        elif d.active:
            torch.manual_seed(spec.seed + 1000 * d.rank)  # distinct dropout/SIGReg noise per rank
        if d.main:
            self.snapshot = HostSnapshot(res.device)

        stream = TrainStream(source, spec.max_seq_len, split, spec.seed, spec.shuffle_buffer, stream_state)
        rank_slice = slice(d.rank * micro_batch, (d.rank + 1) * micro_batch)

        def convert(arr: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.ascontiguousarray(arr[rank_slice]))
            return t.pin_memory() if res.pin_memory else t

        prefetch = Prefetcher(stream, micro_batch * d.world, convert, depth=res.prefetch)
        self.emit(
            ev.Started(
                run=spec.run,
                framework="torch",
                device=_describe_device(res.device),
                preset=spec.preset,
                total_steps=spec.steps,
                start_step=start_step,
                params=params,
                tokens_per_step=spec.tokens_per_step,
                spec=spec.to_dict(),
                world_size=d.world,
                data=source.label,
                checkpoint_dir=str(spec.checkpoint_dir),
                fast={**res.describe(), "micro_batch": micro_batch, "grad_accum": grad_accum},
            )
        )
        finished = False
        try:
            self._loop(
                model,
                sig_reg,
                step_mod,
                ddp,
                optimizer,
                prefetch,
                stream,
                split,
                eval_array,
                start_step,
                micro_batch,
                grad_accum,
            )
            finished = True
        except KeyboardInterrupt:
            finished = True  # "stop at once": the newest complete checkpoint stands, do not wait
            raise
        finally:
            prefetch.close()
            if not finished:
                # A failure (divergence, OOM, ...): let the checkpoint already being written complete.
                try:
                    self.writer.wait()
                except Exception as exc:  # the original failure is the one to report
                    print(f"the checkpoint being written also failed: {exc}", file=sys.stderr)
            if d.active and dist.is_initialized():
                dist.destroy_process_group()
        return self.last_manifest

    # -- the loop ---------------------------------------------------------------------------------

    def _loop(
        self,
        model: Model,
        sig_reg: SIGReg,
        step_mod: nn.Module,
        ddp: nn.parallel.DistributedDataParallel | None,
        optimizer: torch.optim.Optimizer,
        prefetch: Prefetcher[torch.Tensor],
        stream: TrainStream,
        split: HeldOut,
        eval_array: np.ndarray,
        start_step: int,
        micro_batch: int,
        grad_accum: int,
    ) -> None:
        spec, res = self.spec, self.res
        dev = res.device
        step = start_step
        acc = torch.zeros(3, device=dev)
        acc_steps = 0
        stats = StepStats(res.deferred_stats)
        run_start = time.perf_counter()
        window: dict[str, float] = {"start": run_start, "tokens": 0}
        last_state = stream.snapshot()

        def report(*, block: bool) -> None:
            for meta, (loss_v, ce_v, sig_v) in stats.ready(block=block):
                if not math.isfinite(loss_v):
                    raise FloatingPointError(f"the loss became {loss_v} at step {meta['step']}")
                self.last_loss = loss_v
                self.emit(
                    ev.Step(
                        step=meta["step"],
                        total_steps=spec.steps,
                        loss=loss_v,
                        ce=ce_v,
                        sigreg=sig_v,
                        lr=meta["lr"],
                        tokens_per_s=meta["rate"],
                        tokens=meta["tokens"],
                        elapsed_s=meta["elapsed"],
                        micro_batch=micro_batch,
                        grad_accum=grad_accum,
                    )
                )

        if step >= spec.steps:
            self._checkpoint(model, sig_reg, optimizer, step, last_state, split, eval_array, final=True)
            self._finish_writes()
            return
        prepared_first = False
        while step < spec.steps:
            self.watch()
            lr = lr_at(spec, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            for micro in range(grad_accum):
                prepared = prefetch.next()
                batch = prepared.batch.to(dev, non_blocking=True).long()
                ids, tgt = batch[:, 0], batch[:, 1]
                pos = batch[:, 2] if res.pos_ids else None
                sync_ctx = (
                    ddp.no_sync()
                    if (ddp is not None and micro < grad_accum - 1)
                    else contextlib.nullcontext()
                )
                with sync_ctx:
                    loss, ce, sig = step_mod(ids, tgt, pos)
                    (loss / grad_accum).backward()
                acc += torch.stack([loss.detach(), ce, sig]) / grad_accum
                last_state = prepared.state
            if self.snapshot is not None:
                self.snapshot.fence()  # a checkpoint's copies must finish before the weights change
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            acc_steps += 1
            self.tokens += spec.tokens_per_step
            window["tokens"] += spec.tokens_per_step
            if not prepared_first and self.snapshot is not None:
                # The optimizer state exists now: allocate the host buffers off the training thread.
                prepared_first = True
                layout = layout_of(checkpoint_sources(model, optimizer.state_dict()))
                self.writer.submit(functools.partial(self.snapshot.allocate, layout))
            due_ckpt = step % spec.checkpoint_every == 0 or step == spec.steps
            stopping = self.stop.is_set()
            if step % res.log_every == 0 or due_ckpt or stopping:
                if self.d.active:
                    dist.all_reduce(acc)
                    acc /= self.d.world
                now = time.perf_counter()
                # The rate is taken as the loop queues the work; reading the loss lags by at most
                # two windows, so over a run the figure is exact.
                meta = {
                    "step": step,
                    "lr": lr,
                    "tokens": self.tokens,
                    "rate": window["tokens"] / max(now - window["start"], 1e-9),
                    "elapsed": now - run_start,
                }
                stats.push(meta, acc / acc_steps)
                acc.zero_()
                acc_steps = 0
                window["start"], window["tokens"] = now, 0
                report(block=due_ckpt or stopping)
            if due_ckpt or stopping:
                self._checkpoint(
                    model, sig_reg, optimizer, step, last_state, split, eval_array, final=step == spec.steps
                )
                window["start"] = time.perf_counter()
            elif spec.eval_every and step % spec.eval_every == 0:
                self._eval_only(model, sig_reg, step, eval_array)
            if stopping and step < spec.steps:
                self._finish_writes()
                raise Interrupted(step)
        self._finish_writes()

    def _finish_writes(self) -> None:
        """Wait for the checkpoint being written (the run's end, or a stop)."""
        self.writer.wait()

    def _eval(
        self, model: Model, sig_reg: SIGReg, eval_array: np.ndarray
    ) -> tuple[float, float, list[float]]:
        return evaluate(
            model,
            sig_reg,
            eval_array,
            self.spec.eval_batch_size,
            self.res.device,
            seed=self.spec.seed,
            sdpa=self.res.sdpa,
        )

    def _eval_only(self, model: Model, sig_reg: SIGReg, step: int, eval_array: np.ndarray) -> None:
        if self.d.main:
            loss, ce, _ = self._eval(model, sig_reg, eval_array)
            self.emit(ev.Eval(step=step, eval_loss=loss, eval_ce=ce, tokens=int(eval_array[:, 0].size)))
        if self.d.active:
            dist.barrier()

    # -- checkpoints ------------------------------------------------------------------------------

    def _checkpoint(
        self,
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
        spec = self.spec
        rngs = _rng_states(self.res.device)
        all_rngs: list[Any] = [rngs]
        if self.d.active:
            all_rngs = [None] * self.d.world
            dist.all_gather_object(all_rngs, rngs)
        if self.d.main:
            assert self.snapshot is not None
            stall_start = time.perf_counter()
            self.writer.wait()  # one set of host buffers: the previous write must be done
            entries, opt_host = snapshot_training_state(self.snapshot, model, optimizer)
            if self._eval_on_device is None:
                self._eval_on_device = torch.from_numpy(eval_array).to(self.res.device)
            pending = evaluate_launch(
                model,
                sig_reg,
                self._eval_on_device,
                spec.eval_batch_size,
                self.res.device,
                seed=spec.seed,
                sdpa=self.res.sdpa,
            )
            state = {
                "step": step,
                "tokens": self.tokens,
                "optimizer": opt_host,
                "rng": all_rngs,
                "stream": _stream_state_dict(stream_state),
                "heldout_extra": sorted(split.extra),
                "spec": spec.to_dict(),
            }
            job = _CheckpointJob(
                trainer=self,
                step=step,
                final=final,
                loss=self.last_loss,
                entries=entries,
                state=state,
                pending=pending,
                stream_position={**stream_state.position(), "source": spec.data},
                eval_tokens=int(eval_array[:, 0].size),
                snapshot=self.snapshot,
            )
            job.stall_s = time.perf_counter() - stall_start
            self.writer.submit(job.run)
            if final:
                self.writer.wait()
        if self.d.active:
            dist.barrier()


@dataclass
class _CheckpointJob:
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


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


@contextlib.contextmanager
def quiet_threads(n: int | None) -> Iterator[None]:
    """Limit intra-op threads (several ranks on one CPU would otherwise oversubscribe it)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def default_threads(world: int) -> int | None:
    if world <= 1 or torch.cuda.is_available():
        return None
    return max(1, (os.cpu_count() or 1) // world)
