"""The flax/optax training loop (the ``[flax]`` extra): the same data, events and checkpoints.

Weights are written with soma-models' own flax serde, so a checkpoint trained here loads in torch
(``soma_models.v1.torch.Model.load``) and the other way round. The resume state
(``checkpoint-<step>.state.pkl``) holds the optax state, the nnx RNG counters and the data
position.
"""

from __future__ import annotations

import functools
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from soma_models.v1.configs import V1_PAD_TOKEN_ID
from soma_models.v1.flax import Model, ModelConfig, SIGReg, SIGRegConfig
from soma_models.v1.flax.serde import Serde

from soma_console.training import events as ev
from soma_console.training.checkpoint import CheckpointRecord, publish_final, save_checkpoint
from soma_console.training.control import Interrupted
from soma_console.training.data_heldout import HeldOut, heldout_set
from soma_console.training.data_open import open_source
from soma_console.training.data_prefetch import Prefetcher
from soma_console.training.data_stream import StreamState, TrainStream
from soma_console.training.manifest import Manifest, latest_resumable
from soma_console.training.spec import TrainSpec


def _ce(logits: jax.Array, targets: jax.Array, all_positions: bool = False) -> jax.Array:
    """Cross-entropy over the non-PAD targets, divided by their count, or with ``all_positions``
    by every B*S position (the chain's scoring loss, PAD counted as 0)."""
    flat = logits.reshape(-1, logits.shape[-1]).astype(jnp.float32)
    tgt = targets.reshape(-1)
    mask = tgt != V1_PAD_TOKEN_ID
    logp = jax.nn.log_softmax(flat, axis=-1)
    nll = -jnp.take_along_axis(logp, tgt[:, None], axis=-1)[:, 0]
    count = tgt.size if all_positions else jnp.maximum(jnp.sum(mask), 1)
    return jnp.sum(nll * mask) / count


def _loss(
    model: Model, sig_reg: SIGReg, ids: jax.Array, tgt: jax.Array, pos: jax.Array, all_positions: bool
) -> tuple[jax.Array, Any]:
    reps = model.encode(ids, pos)
    ce = _ce(model.predict(reps), tgt, all_positions)
    sig = sig_reg(reps)
    return ce + sig, (ce, sig)


def _step(
    model: Model, sig_reg: SIGReg, ids: jax.Array, tgt: jax.Array, pos: jax.Array, all_positions: bool
) -> Any:
    loss_fn = functools.partial(_loss, all_positions=all_positions)
    (loss, (ce, sig)), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, sig_reg, ids, tgt, pos)
    return jnp.stack([loss, ce, sig]), grads


# One compiled step per objective: the trainer's (mean over real tokens) and the chain's.
_micro_step = nnx.jit(functools.partial(_step, all_positions=False))
_micro_step_scoring = nnx.jit(functools.partial(_step, all_positions=True))


@nnx.jit
def _apply(optimizer: nnx.Optimizer, model: Model, grads: Any) -> None:
    optimizer.update(model, grads)


@nnx.jit
def _eval_batch(
    model: Model, sig_reg: SIGReg, ids: jax.Array, tgt: jax.Array, pos: jax.Array, noise: jax.Array
) -> Any:
    reps = model.encode(ids, pos)
    ce = _ce(model.predict(reps), tgt)
    sig = sig_reg.compute(reps, noise)
    mask = (ids != V1_PAD_TOKEN_ID)[..., None].astype(reps.dtype)
    return ce + sig, ce, jnp.sum(reps * mask, axis=(0, 1)), jnp.sum(mask)


def canonical_bytes(model: Model) -> bytes:
    return bytes(Serde(model).serialize())


class FlaxTrainer:
    def __init__(
        self, spec: TrainSpec, *, resume: bool, emit: Callable[[ev.Event], None], stop: threading.Event
    ) -> None:
        self.spec = spec
        self.resume = resume
        self.emit = emit
        self.stop = stop
        self.tokens = 0
        self.last_manifest: Manifest | None = None

    def _schedule(self) -> Any:
        spec = self.spec
        if spec.warmup_steps:
            return optax.linear_schedule(
                spec.learning_rate / spec.warmup_steps, spec.learning_rate, spec.warmup_steps - 1
            )
        return spec.learning_rate

    def run(self) -> Manifest:
        spec = self.spec
        source = open_source(spec.data)
        eval_seqs, split = heldout_set(
            source, spec.max_seq_len, spec.heldout_fraction, spec.eval_batch_size * spec.eval_batches
        )
        eval_array = np.stack(eval_seqs)
        rngs = nnx.Rngs(spec.seed)
        cfg = ModelConfig(**spec.model_config())
        model = Model(cfg, rngs)
        sig_reg = SIGReg(SIGRegConfig(), rngs)
        optimizer = nnx.Optimizer(model, optax.adam(self._schedule()), wrt=nnx.Param)
        start_step = 0
        stream_state: StreamState | None = None
        prior = latest_resumable(spec.run_dir) if self.resume else None
        if prior is not None:
            Serde(model).deserialize_from_file(str(prior.path))
            with open(prior.manifest_path.parent / str(prior.manifest.state), "rb") as fh:
                state = pickle.load(fh)  # noqa: S301 - our own file, written by this trainer
            nnx.update(optimizer, state["optimizer"])
            nnx.update(model, state["model_rng"])
            nnx.update(sig_reg, state["sig_reg_rng"])
            start_step = int(state["step"])
            self.tokens = int(state["tokens"])
            stream_state = state["stream"]
            split = HeldOut(split.fraction, frozenset(state["heldout_extra"]))
        model.train()
        stream = TrainStream(source, spec.max_seq_len, split, spec.seed, spec.shuffle_buffer, stream_state)
        prefetch = Prefetcher(stream, spec.micro_batch, lambda a: a, depth=spec.fast.prefetch)
        params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
        self.emit(
            ev.Started(
                run=spec.run,
                framework="flax",
                device=f"{jax.default_backend()} ({jax.devices()[0].device_kind})",
                preset=spec.preset,
                total_steps=spec.steps,
                start_step=start_step,
                params=params,
                tokens_per_step=spec.tokens_per_step,
                spec=spec.to_dict(),
                data=source.label,
                checkpoint_dir=str(spec.checkpoint_dir),
                fast={"micro_batch": spec.micro_batch, "grad_accum": spec.grad_accum, "jit": True},
            )
        )
        try:
            self._loop(model, sig_reg, optimizer, prefetch, stream, split, eval_array, start_step)
        finally:
            prefetch.close()
        assert self.last_manifest is not None
        return self.last_manifest

    def _loop(
        self,
        model: Model,
        sig_reg: SIGReg,
        optimizer: nnx.Optimizer,
        prefetch: Prefetcher[np.ndarray],
        stream: TrainStream,
        split: HeldOut,
        eval_array: np.ndarray,
        start_step: int,
    ) -> None:
        spec = self.spec
        step = start_step
        acc = jnp.zeros(3)
        acc_steps = 0
        window_start, window_tokens = time.perf_counter(), 0
        run_start = time.perf_counter()
        last_loss: float | None = None
        last_state = stream.snapshot()
        step_fn = _micro_step_scoring if spec.fast.scoring_objective else _micro_step
        if step >= spec.steps:
            self._checkpoint(
                model, sig_reg, optimizer, step, last_state, split, eval_array, last_loss, final=True
            )
            return
        while step < spec.steps:
            grads_sum: Any = None
            for _ in range(spec.grad_accum):
                prepared = prefetch.next()
                batch = jnp.asarray(prepared.batch)
                ids, tgt = batch[:, 0], batch[:, 1]
                pos = (
                    batch[:, 2]
                    if spec.fast.pos_ids or spec.fast.scoring_objective
                    else jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
                )
                parts, grads = step_fn(model, sig_reg, ids, tgt, pos)
                grads_sum = grads if grads_sum is None else jax.tree.map(jnp.add, grads_sum, grads)
                acc = acc + parts / spec.grad_accum
                last_state = prepared.state
            grads_mean = jax.tree.map(lambda g: g / spec.grad_accum, grads_sum)
            _apply(optimizer, model, grads_mean)
            step += 1
            acc_steps += 1
            self.tokens += spec.tokens_per_step
            window_tokens += spec.tokens_per_step
            due = step % spec.checkpoint_every == 0 or step == spec.steps
            stopping = self.stop.is_set()
            if step % spec.fast.log_every == 0 or due or stopping:
                loss_v, ce_v, sig_v = (float(x) for x in np.asarray(acc / acc_steps))
                now = time.perf_counter()
                if not np.isfinite(loss_v):
                    raise FloatingPointError(f"the loss became {loss_v} at step {step}")
                last_loss = loss_v
                lr = float(self._schedule()(step) if callable(self._schedule()) else spec.learning_rate)
                self.emit(
                    ev.Step(
                        step=step,
                        total_steps=spec.steps,
                        loss=loss_v,
                        ce=ce_v,
                        sigreg=sig_v,
                        lr=lr,
                        tokens_per_s=window_tokens / max(now - window_start, 1e-9),
                        tokens=self.tokens,
                        elapsed_s=now - run_start,
                        micro_batch=spec.micro_batch,
                        grad_accum=spec.grad_accum,
                    )
                )
                acc = jnp.zeros(3)
                acc_steps = 0
                window_start, window_tokens = time.perf_counter(), 0
            if due or stopping:
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
                loss, ce, _ = self._eval(model, sig_reg, eval_array)
                self.emit(ev.Eval(step=step, eval_loss=loss, eval_ce=ce, tokens=int(eval_array[:, 0].size)))
            if stopping and step < spec.steps:
                raise Interrupted(step)

    def _eval(
        self, model: Model, sig_reg: SIGReg, eval_array: np.ndarray
    ) -> tuple[float, float, list[float]]:
        model.eval()
        try:
            bs = self.spec.eval_batch_size
            dim = int(model.config.embedding_dim)
            noise = jax.random.normal(
                jax.random.key(self.spec.seed), (dim, sig_reg.config.slices), dtype=jnp.float32
            )
            total = total_ce = 0.0
            emb = np.zeros(dim, dtype=np.float64)
            count = 0.0
            batches = 0
            for start in range(0, len(eval_array), bs):
                chunk = jnp.asarray(eval_array[start : start + bs])
                loss, ce, emb_sum, n = _eval_batch(
                    model, sig_reg, chunk[:, 0], chunk[:, 1], chunk[:, 2], noise
                )
                total += float(loss)
                total_ce += float(ce)
                emb += np.asarray(emb_sum, dtype=np.float64)
                count += float(n)
                batches += 1
        finally:
            model.train()
        return total / batches, total_ce / batches, (emb / max(count, 1.0)).astype(np.float32).tolist()

    def _checkpoint(
        self,
        model: Model,
        sig_reg: SIGReg,
        optimizer: nnx.Optimizer,
        step: int,
        stream_state: StreamState,
        split: HeldOut,
        eval_array: np.ndarray,
        last_loss: float | None,
        *,
        final: bool,
    ) -> None:
        spec = self.spec
        eval_loss, eval_ce, embedding = self._eval(model, sig_reg, eval_array)
        self.emit(ev.Eval(step=step, eval_loss=eval_loss, eval_ce=eval_ce, tokens=int(eval_array[:, 0].size)))
        state = {
            "step": step,
            "tokens": self.tokens,
            "optimizer": nnx.state(optimizer),
            "model_rng": nnx.state(model, nnx.RngState),
            "sig_reg_rng": nnx.state(sig_reg, nnx.RngState),
            "stream": stream_state,
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
            framework="flax",
            run=spec.run,
            tokens=self.tokens,
        )
        manifest, mpath = save_checkpoint(
            spec.checkpoint_dir,
            record,
            None,
            lambda fh: pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL),
            weights_bytes=canonical_bytes(model),
            state_suffix=".state.pkl",
        )
        self.last_manifest = manifest
        path = str(spec.checkpoint_dir / manifest.weights)
        self.emit(
            ev.CheckpointSaved(
                step=step,
                path=path,
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
