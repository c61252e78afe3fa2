"""TrainSpec: presets, JSON round trip, one clear sentence for bad values, no torch on import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from soma_models.v1 import configs as c

from soma_console.errors import UserError
from soma_console.training.spec import FastOptions, TrainSpec, make_spec


def test_v1_preset_is_the_on_chain_architecture(tmp_path: Path) -> None:
    spec = make_spec(run="v", preset="v1", out_dir=tmp_path)
    cfg = spec.model_config()
    assert (cfg["embedding_dim"], cfg["num_layers"], cfg["num_heads"]) == (
        c.V1_EMBEDDING_DIM,
        c.V1_NUM_LAYERS,
        c.V1_NUM_HEADS,
    )
    assert cfg["pwff_hidden_dim"] == c.V1_PWFF_HIDDEN_DIM
    assert cfg["vocab_size"] == c.V1_VOCAB_SIZE
    assert spec.max_seq_len == c.V1_MAX_SEQ_LEN
    assert spec.eval_batch_size == c.V1_BATCH_SIZE
    assert spec.architecture == "v1"
    assert spec.effective_batch == 16


def test_tiny_preset_is_small_and_marked_devnet_only(tmp_path: Path) -> None:
    spec = make_spec(run="t", preset="tiny", out_dir=tmp_path)
    cfg = spec.model_config()
    assert (cfg["embedding_dim"], cfg["num_layers"], cfg["num_heads"], cfg["pwff_hidden_dim"]) == (
        64,
        2,
        2,
        256,
    )
    assert spec.architecture == "small"


def test_json_round_trip_keeps_every_field(tmp_path: Path) -> None:
    spec = make_spec(
        run="round-trip",
        preset="tiny",
        out_dir=tmp_path,
        data="/some/where",
        framework="flax",
        seed=7,
        fast=FastOptions(mode="on", precision="bf16", compile="on", pos_ids=True, log_every=5),
        learning_rate=3e-4,
        steps=12,
        gpus=1,
        warmup_steps=3,
    )
    back = TrainSpec.from_json(spec.to_json())
    assert back == spec
    assert TrainSpec.from_dict({**spec.to_dict(), "from_a_newer_version": 1}) == spec


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"preset": "huge"}, "unknown preset"),
        ({"learning_rate": -1.0}, "learning rate"),
        ({"learning_rate": float("nan")}, "learning rate"),
        ({"micro_batch": 0}, "micro-batch"),
        ({"steps": 2.5}, "steps"),
        ({"dropout": 1.0}, "dropout"),
        ({"framework": "tf"}, "framework"),
        ({"run": "../escape"}, "run name"),
        ({"data": "  "}, "data source"),
        ({"gpus": 0}, "gpus"),
    ],
)
def test_bad_values_raise_one_sentence(tmp_path: Path, change: dict[str, object], needle: str) -> None:
    raw = {**make_spec(run="ok", preset="tiny", out_dir=tmp_path).to_dict(), **change}
    with pytest.raises(UserError) as info:
        TrainSpec.from_dict(raw)
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg


def test_three_way_switches_read_older_booleans_and_refuse_nonsense(tmp_path: Path) -> None:
    raw = make_spec(run="ok", preset="tiny", out_dir=tmp_path).to_dict()
    assert (raw["fast"]["compile"], raw["fast"]["auto_micro_batch"]) == ("auto", "auto")
    old = {**raw, "fast": {**raw["fast"], "compile": True, "auto_micro_batch": False}}
    back = TrainSpec.from_dict(old).fast
    assert (back.compile, back.auto_micro_batch) == ("on", "off")
    with pytest.raises(UserError, match="unknown compile setting 'sometimes'; use auto, on or off"):
        TrainSpec.from_dict({**raw, "fast": {**raw["fast"], "compile": "sometimes"}})


def test_malformed_json_is_a_user_error() -> None:
    with pytest.raises(UserError, match="not valid JSON"):
        TrainSpec.from_json("{nope")
    with pytest.raises(UserError, match="lacks"):
        TrainSpec.from_json('{"run": "x"}')


def test_console_side_modules_do_not_import_torch() -> None:
    code = (
        "import soma_console.training.manifest, soma_console.training.backends, "
        "soma_console.training.spec, soma_console.training.runs, soma_console.training.data_open, "
        "soma_console.training.data_heldout, soma_console.training.data_stream, "
        "soma_console.training.data_prefetch, "
        "soma_console.training.fast_defaults, soma_console.cli.train; import sys; "
        "bad = [m for m in ('torch', 'jax', 'flax', 'textual') if m in sys.modules]; assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
