"""The torch training loop behind the worker (one process per rank).

Only rank 0 talks (events) and writes (checkpoints, :mod:`soma_console.training.torch_checkpoint`).
Every rank builds the same global micro-batch from the same seeded stream and trains on its own
slice (:mod:`soma_console.training.torch_dist`); the device and the fast-path features come from
:mod:`soma_console.training.torch_device`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from soma_models.v1.torch import Model, ModelConfig, SIGReg, SIGRegConfig
from torch import nn

from soma_console.training import events as ev
from soma_console.training.checkpoint_async import BackgroundWriter, HostSnapshot, layout_of
from soma_console.training.control import Interrupted
from soma_console.training.data_heldout import HeldOut, heldout_set
from soma_console.training.data_open import open_source
from soma_console.training.data_prefetch import Prefetcher
from soma_console.training.data_stream import StreamState, TrainStream
from soma_console.training.fast import LossModule, evaluate
from soma_console.training.manifest import Manifest, latest_resumable
from soma_console.training.spec import TrainSpec
from soma_console.training.torch_checkpoint import (
    checkpoint_sources,
    remove_stale_temp_files,
    set_rng_states,
    stream_state_from,
    take_checkpoint,
)
from soma_console.training.torch_device import describe_device, probe_micro_batch, resolve
from soma_console.training.torch_dist import Dist, agree_micro_batch, init_distributed

Emit = Callable[[ev.Event], None]


def build_model(spec: TrainSpec) -> tuple[Model, SIGReg]:
    return Model(ModelConfig(**spec.model_config())), SIGReg(SIGRegConfig())


def lr_at(spec: TrainSpec, step: int) -> float:
    if spec.warmup_steps and step < spec.warmup_steps:
        return spec.learning_rate * (step + 1) / spec.warmup_steps
    return spec.learning_rate


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
        self.eval_on_device: torch.Tensor | None = None

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
            stream_state = stream_state_from(state["stream"])
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
            set_rng_states(rng_states[min(d.rank, len(rng_states) - 1)], res.device)
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
                device=describe_device(res.device),
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
            take_checkpoint(self, model, sig_reg, optimizer, step, last_state, split, eval_array, final=True)
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
                take_checkpoint(
                    self,
                    model,
                    sig_reg,
                    optimizer,
                    step,
                    last_state,
                    split,
                    eval_array,
                    final=step == spec.steps,
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
