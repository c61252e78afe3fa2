"""Data-parallel training: 2 processes (gloo on CPU) mean the same as one with twice the micro-batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from soma_models.v1.torch import Model, ModelConfig

from soma_console.training import events as ev
from soma_console.training.manifest import list_checkpoints
from tests.training.conftest import run_worker, tiny_spec

pytestmark = pytest.mark.slow


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path: Path) -> None:
    ddp = tiny_spec(tmp_path / "ddp", run="ddp", steps=6, checkpoint_every=3, gpus=2, micro_batch=2)
    one = tiny_spec(tmp_path / "one", run="one", steps=6, checkpoint_every=3, gpus=1, micro_batch=4)
    assert ddp.tokens_per_step == one.tokens_per_step
    r2, r1 = run_worker(ddp), run_worker(one)
    assert r2.code == 0, r2.stderr[-3000:]
    assert r1.code == 0, r1.stderr[-3000:]
    assert "Traceback" not in r2.stderr
    # Only rank 0 talks and writes: one stream of events, one set of checkpoint files.
    (started,) = r2.of(ev.Started)
    assert started.world_size == 2
    assert started.fast["micro_batch"] == 2
    assert [s.step for s in r2.of(ev.Step)] == list(range(1, 7))
    assert len(r2.of(ev.Finished)) == 1
    files = sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "one" / "checkpoints").iterdir())
    # Same data, same initial weights: the first step's loss agrees up to SIGReg noise (~0.02 of
    # the loss), and training lands in the same place.
    l2, l1 = r2.of(ev.Step), r1.of(ev.Step)
    assert abs(l2[0].ce - l1[0].ce) < 1e-3
    assert abs(l2[0].loss - l1[0].loss) < 0.05
    e2, e1 = r2.of(ev.Eval)[-1].eval_loss, r1.of(ev.Eval)[-1].eval_loss
    assert abs(e2 - e1) < 0.1, (e2, e1)
    assert l2[-1].loss < l2[0].loss - 1.0
    # Checkpoints mean the same: same layout, stock-loadable, manifest says the whole job's tokens.
    ck2, ck1 = list_checkpoints(tmp_path / "ddp"), list_checkpoints(tmp_path / "one")
    assert [c.step for c in ck2] == [c.step for c in ck1]
    assert ck2[0].manifest.tokens == ck1[0].manifest.tokens == 6 * 4 * 256
    assert ck2[0].manifest.data_position["sequences"] == ck1[0].manifest.data_position["sequences"]
    Model.load(str(ck2[0].path), ModelConfig(**ck2[0].manifest.config))

    # And a DDP run resumes like any other.
    more = tiny_spec(tmp_path / "ddp", run="ddp", steps=8, checkpoint_every=4, gpus=2, micro_batch=2)
    r = run_worker(more, "--resume")
    assert r.code == 0, r.stderr[-3000:]
    assert r.of(ev.Started)[0].start_step == 6
    assert [s.step for s in r.of(ev.Step)] == [7, 8]
