"""The torch training loop behind the worker (one process per rank).

Only rank 0 talks (events) and writes (checkpoints). Every rank builds the same global
micro-batch from the same seeded stream and trains on its own slice, so the data position is one
number for the whole job and a DDP run means the same as a single process with ``gpus`` times the
micro-batch.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from soma_models.v1.torch import Model, ModelConfig, SIGReg, SIGRegConfig
from torch import nn

from soma_console.training import events as ev
from soma_console.training.checkpoint import CheckpointRecord, publish_final, save_checkpoint
from soma_console.training.control import Interrupted
from soma_console.training.data import HeldOut, Prefetcher, StreamState, TrainStream, heldout_set, open_source
from soma_console.training.fast import LossModule, canonical_entries, evaluate
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
    """The fast-path options as they apply on this machine."""

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
    scoring_objective: bool = False

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["device"] = str(self.device)
        d["amp_dtype"] = str(self.amp_dtype).removeprefix("torch.") if self.amp_dtype else "fp32"
        return d


def resolve(spec: TrainSpec, rank: int = 0) -> Resolved:
    want = spec.device
    cuda = torch.cuda.is_available() and want != "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        from soma_console.errors import UserError

        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto.")
    device = torch.device(f"cuda:{rank % max(1, torch.cuda.device_count())}") if cuda else torch.device("cpu")
    f = spec.fast
    # "auto" is on everywhere: on a CPU it means SDPA and SIGReg's trig once, in fp32 (measured
    # faster than the stock forward there too; see docs/benchmarks.md); bf16 only on CUDA.
    fast = f.mode in ("on", "auto")
    precision = f.precision if f.precision != "auto" else ("bf16" if (fast and cuda) else "fp32")
    return Resolved(
        device=device,
        fast=fast,
        amp_dtype=torch.bfloat16 if (fast and precision == "bf16") else None,
        sdpa=fast and f.sdpa,
        fused_adam=fast and f.fused_adam and cuda,
        tf32=fast and f.tf32 and cuda,
        compile=fast and f.compile,
        prefetch=f.prefetch,
        pin_memory=fast and f.pin_memory and cuda,
        pos_ids=f.pos_ids or f.scoring_objective,
        log_every=f.log_every,
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


def probe_micro_batch(loss_mod: nn.Module, spec: TrainSpec, res: Resolved, per_rank_batch: int) -> int:
    """The largest micro-batch dividing the per-rank batch that survives a forward+backward."""
    candidates = [m for m in range(per_rank_batch, 0, -1) if per_rank_batch % m == 0]
    seq = spec.max_seq_len
    for m in candidates:
        try:
            with torch.random.fork_rng(devices=[res.device] if res.device.type == "cuda" else []):
                ids = torch.randint(0, 256, (m, seq), device=res.device)
                loss, _, _ = loss_mod(ids, ids)
                loss.backward()
            for p in loss_mod.parameters():
                p.grad = None
            return m
        except torch.OutOfMemoryError:
            for p in loss_mod.parameters():
                p.grad = None
            torch.cuda.empty_cache()
    return 1


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
        self.res = resolve(spec, d.rank)
        self.init_method = init_method
        self.tokens = 0
        self.last_manifest: Manifest | None = None

    def emit(self, event: ev.Event) -> None:
        if self.d.main:
            self._emit(event)

    # -- setup ------------------------------------------------------------------------------------

    def run(self) -> Manifest | None:
        """Train to ``spec.steps``; the final manifest on rank 0, None on the other ranks."""
        spec, res, d = self.spec, self.res, self.d
        init_distributed(d, res.device, self.init_method)
        if res.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(spec.seed)
        random.seed(spec.seed)
        np.random.seed(spec.seed % 2**32)

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
        model.to(res.device)
        sig_reg.to(res.device)
        model.train()
        params = sum(p.numel() for p in model.parameters())

        loss_mod: nn.Module = LossModule(
            model,
            sig_reg,
            fast=res.fast,
            sdpa=res.sdpa,
            amp_dtype=res.amp_dtype,
            all_positions=res.scoring_objective,
        )
        micro_batch, grad_accum = spec.micro_batch, spec.grad_accum
        if spec.fast.auto_micro_batch and res.device.type == "cuda":
            micro_batch = probe_micro_batch(loss_mod, spec, res, micro_batch * grad_accum)
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
        finally:
            prefetch.close()
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
        window_start = time.perf_counter()
        window_tokens = 0
        run_start = time.perf_counter()
        last_loss: float | None = None
        last_state = stream.snapshot()
        if step >= spec.steps:
            self._checkpoint(
                model, sig_reg, optimizer, step, last_state, split, eval_array, last_loss, final=True
            )
            return
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
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            acc_steps += 1
            self.tokens += spec.tokens_per_step
            window_tokens += spec.tokens_per_step
            due_ckpt = step % spec.checkpoint_every == 0 or step == spec.steps
            stopping = self.stop.is_set()
            if step % res.log_every == 0 or due_ckpt or stopping:
                if self.d.active:
                    dist.all_reduce(acc)
                    acc /= self.d.world
                loss_v, ce_v, sig_v = (acc / acc_steps).tolist()  # the only host sync
                now = time.perf_counter()
                rate = window_tokens / max(now - window_start, 1e-9)
                last_loss = loss_v
                if not math.isfinite(loss_v):
                    raise FloatingPointError(f"the loss became {loss_v} at step {step}")
                self.emit(
                    ev.Step(
                        step=step,
                        total_steps=spec.steps,
                        loss=loss_v,
                        ce=ce_v,
                        sigreg=sig_v,
                        lr=lr,
                        tokens_per_s=rate,
                        tokens=self.tokens,
                        elapsed_s=now - run_start,
                        micro_batch=micro_batch,
                        grad_accum=grad_accum,
                    )
                )
                acc.zero_()
                acc_steps = 0
                window_start, window_tokens = time.perf_counter(), 0
            if due_ckpt or stopping:
                self._checkpoint(
                    model,
                    sig_reg,
                    optimizer,
                    step,
                    last_state,
                    split,
                    eval_array,
                    last_loss,
                    final=step == spec.steps,
                )
                window_start = time.perf_counter()
            elif spec.eval_every and step % spec.eval_every == 0:
                self._eval_only(model, sig_reg, step, eval_array)
            if stopping and step < spec.steps:
                raise Interrupted(step)

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

    def _checkpoint(
        self,
        model: Model,
        sig_reg: SIGReg,
        optimizer: torch.optim.Optimizer,
        step: int,
        stream_state: StreamState,
        split: HeldOut,
        eval_array: np.ndarray,
        last_loss: float | None,
        *,
        final: bool,
    ) -> None:
        spec = self.spec
        rngs = _rng_states(self.res.device)
        all_rngs: list[Any] = [rngs]
        if self.d.active:
            all_rngs = [None] * self.d.world
            dist.all_gather_object(all_rngs, rngs)
        if self.d.main:
            eval_loss, eval_ce, embedding = self._eval(model, sig_reg, eval_array)
            self.emit(
                ev.Eval(step=step, eval_loss=eval_loss, eval_ce=eval_ce, tokens=int(eval_array[:, 0].size))
            )
            state = {
                "step": step,
                "tokens": self.tokens,
                "optimizer": optimizer.state_dict(),
                "rng": all_rngs,
                "stream": _stream_state_dict(stream_state),
                "heldout_extra": sorted(split.extra),
                "spec": spec.to_dict(),
            }
            record = CheckpointRecord(
                step=step,
                loss=last_loss,
                eval_loss=eval_loss,
                eval_ce=eval_ce,
                embedding=embedding,
                config=spec.model_config(),
                architecture=spec.architecture,
                spec=spec.to_dict(),
                data_position={**stream_state.position(), "source": spec.data},
                framework="torch",
                run=spec.run,
                tokens=self.tokens,
            )
            manifest, mpath = save_checkpoint(
                spec.checkpoint_dir, record, canonical_entries(model), lambda fh: torch.save(state, fh)
            )
            self.last_manifest = manifest
            self.emit(
                ev.CheckpointSaved(
                    step=step,
                    path=str(spec.checkpoint_dir / manifest.weights),
                    manifest=str(mpath),
                    loss=last_loss,
                    eval_loss=eval_loss,
                    size=manifest.size,
                )
            )
            if final:
                fin, fpath = publish_final(spec.checkpoint_dir, manifest)
                self.last_manifest = fin
                self.emit(
                    ev.CheckpointSaved(
                        step=step,
                        path=str(spec.checkpoint_dir / fin.weights),
                        manifest=str(fpath),
                        loss=last_loss,
                        eval_loss=eval_loss,
                        size=fin.size,
                        final=True,
                    )
                )
        if self.d.active:
            dist.barrier()


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
