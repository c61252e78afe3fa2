"""Checkpoints on the Volume through the real modal client: listing only what is manifested,
downloads with progress that resume after an interruption and never leave a corrupt file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from modal._utils.blob_utils import BLOCK_SIZE
from safetensors.numpy import load_file, save

from soma_console.errors import UserError
from soma_console.training.modal.client import ModalVolume
from soma_console.training.modal.volume import download_checkpoint, list_remote_checkpoints, pick_checkpoint
from tests.fake_modal.server import FakeModal

VOL = "soma-test-ckpts"


def put_checkpoint(
    root: Path, run: str, stem: str, step: int, nbytes: int, *, manifest: bool = True, sha: str | None = None
) -> bytes:
    folder = root / "runs" / run / ("" if stem == "model-final" else "checkpoints")
    folder.mkdir(parents=True, exist_ok=True)
    data = save({"w": np.arange(max(1, nbytes // 4), dtype=np.float32) * step})
    (folder / f"{stem}.safetensors").write_bytes(data)
    if manifest:
        body = {
            "step": step,
            "loss": 1.0 / step,
            "eval_loss": 1.1 / step,
            "sha256": sha or hashlib.sha256(data).hexdigest(),
        }
        (folder / f"{stem}.json").write_text(json.dumps(body))
    return data


def leftovers(folder: Path) -> list[Path]:
    return list(folder.glob("*.part*"))


@pytest.fixture
def vol(fake: FakeModal) -> Path:
    root = fake.create_volume(VOL).root
    return root


def volume() -> ModalVolume:
    return ModalVolume(VOL, timeout=10.0)


async def test_only_manifested_checkpoints_are_listed(vol: Path) -> None:
    put_checkpoint(vol, "r1", "checkpoint-00000100", 100, 1000)
    put_checkpoint(vol, "r1", "checkpoint-00000200", 200, 1000)
    put_checkpoint(vol, "r1", "checkpoint-00000300", 300, 1000, manifest=False)  # still being written
    put_checkpoint(vol, "r1", "model-final", 300, 1000)
    (vol / "runs/r1/checkpoints/checkpoint-00000400.safetensors").write_bytes(b"junk")
    (vol / "runs/r1/checkpoints/checkpoint-00000400.json").write_text("{not json")  # not the worker's
    (vol / "runs/r1/checkpoints/notes.json").write_text("{}")
    ckpts = await list_remote_checkpoints(volume(), "r1")
    assert [(c.stem, c.step, c.final) for c in ckpts] == [
        ("checkpoint-00000100", 100, False),
        ("checkpoint-00000200", 200, False),
        ("model-final", 300, True),
    ]
    assert ckpts[0].loss == pytest.approx(0.01)
    assert ckpts[0].eval_loss == pytest.approx(0.011)
    assert pick_checkpoint(ckpts, "latest").final
    assert pick_checkpoint(ckpts, "200").stem == "checkpoint-00000200"
    with pytest.raises(UserError, match="no checkpoint at step 250"):
        pick_checkpoint(ckpts, "250")


async def test_a_run_not_on_the_volume_has_no_checkpoints(vol: Path) -> None:
    assert await list_remote_checkpoints(volume(), "never-ran") == []


async def test_a_wrong_volume_name_is_one_clear_error(fake: FakeModal) -> None:
    with pytest.raises(UserError, match="no Volume named 'not-a-volume'"):
        await list_remote_checkpoints(ModalVolume("not-a-volume", timeout=10.0), "r1")


async def test_download_reports_progress_and_writes_weights_and_manifest(vol: Path, tmp_path: Path) -> None:
    data = put_checkpoint(vol, "r2", "model-final", 9, BLOCK_SIZE + 300_000)  # two blocks
    ckpt = pick_checkpoint(await list_remote_checkpoints(volume(), "r2"), "final")
    seen: list[tuple[int, int]] = []
    path = await download_checkpoint(volume(), ckpt, tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == data
    assert set(load_file(path)) == {"w"}
    assert json.loads(path.with_suffix(".json").read_text())["step"] == 9
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not leftovers(tmp_path)


async def test_an_interrupted_download_leaves_no_final_file_and_resumes(
    fake: FakeModal, vol: Path, tmp_path: Path
) -> None:
    data = put_checkpoint(vol, "r3", "checkpoint-00000050", 50, 2 * BLOCK_SIZE + 1000)  # three blocks
    ckpt = pick_checkpoint(await list_remote_checkpoints(volume(), "r3"), "50")
    fake.cut_block_offsets = {BLOCK_SIZE: 5}  # the second block dies 5 times: modal's retries give up
    with pytest.raises(
        UserError, match=r"stopped at \d+ of \d+ bytes .*Run the same command again to resume"
    ):
        await download_checkpoint(volume(), ckpt, tmp_path)
    final = tmp_path / "checkpoint-00000050.safetensors"
    part = tmp_path / "checkpoint-00000050.safetensors.part"
    assert not final.exists()
    assert part.stat().st_size == BLOCK_SIZE  # the first block was kept
    assert part.read_bytes() == data[:BLOCK_SIZE]
    first_inode = part.stat().st_ino

    seen: list[int] = []
    fake.served_bytes = 0
    path = await download_checkpoint(volume(), ckpt, tmp_path, progress=lambda d, t: seen.append(d))
    assert path.read_bytes() == data
    assert os.stat(path).st_ino == first_inode  # the same file, continued and renamed into place
    assert not part.exists()
    # a ranged read: only the missing bytes crossed the network again
    assert fake.served_bytes == len(data) - BLOCK_SIZE
    assert seen[0] > BLOCK_SIZE


async def test_expired_download_links_are_renewed_from_the_byte_reached(
    fake: FakeModal, vol: Path, tmp_path: Path
) -> None:
    data = put_checkpoint(vol, "r8", "checkpoint-00000080", 80, 3 * BLOCK_SIZE + 10)  # four blocks
    ckpt = pick_checkpoint(await list_remote_checkpoints(volume(), "r8"), "80")
    part = tmp_path / "checkpoint-00000080.safetensors.part"
    part.write_bytes(data[:100])  # a resume: the ranged path
    (tmp_path / "checkpoint-00000080.safetensors.part.json").write_text(
        json.dumps({"path": ckpt.weights_path, "size": ckpt.size, "mtime": ckpt.mtime})
    )
    fake.served_bytes = 0
    fake.expire_links_after_blocks = 2  # the links die after two blocks, half way through
    before = fake.requests.count("VolumeGetFile2")
    path = await download_checkpoint(volume(), ckpt, tmp_path)
    assert path.read_bytes() == data
    assert fake.requests.count("VolumeGetFile2") - before == 2  # fresh links once, from where it was
    assert fake.served_bytes == len(data) - 100  # nothing transferred twice


async def test_a_damaged_part_is_detected_and_rewritten_from_the_first_difference(
    vol: Path, tmp_path: Path
) -> None:
    data = put_checkpoint(vol, "r4", "model-final", 4, BLOCK_SIZE + 5000)
    ckpt = pick_checkpoint(await list_remote_checkpoints(volume(), "r4"), "final")
    part = tmp_path / "model-final.safetensors.part"
    damaged = bytearray(data[: BLOCK_SIZE // 2])
    damaged[1000] ^= 0xFF
    part.write_bytes(bytes(damaged))
    (tmp_path / "model-final.safetensors.part.json").write_text(
        json.dumps({"path": ckpt.weights_path, "size": ckpt.size, "mtime": ckpt.mtime})
    )
    path = await download_checkpoint(volume(), ckpt, tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_a_part_of_an_older_version_is_discarded(vol: Path, tmp_path: Path) -> None:
    put_checkpoint(vol, "r5", "model-final", 5, 50_000)
    old = pick_checkpoint(await list_remote_checkpoints(volume(), "r5"), "final")
    (tmp_path / "model-final.safetensors.part").write_bytes(b"x" * 10_000)
    (tmp_path / "model-final.safetensors.part.json").write_text(
        json.dumps({"path": old.weights_path, "size": old.size + 1, "mtime": old.mtime})
    )
    path = await download_checkpoint(volume(), old, tmp_path)
    assert (
        json.loads(path.with_suffix(".json").read_text())["sha256"]
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )


async def test_weights_that_do_not_match_their_manifest_never_reach_the_final_path(
    vol: Path, tmp_path: Path
) -> None:
    put_checkpoint(vol, "r6", "model-final", 6, 20_000, sha="0" * 64)
    ckpt = pick_checkpoint(await list_remote_checkpoints(volume(), "r6"), "final")
    with pytest.raises(UserError, match="does not match its manifest's sha256"):
        await download_checkpoint(volume(), ckpt, tmp_path)
    assert not (tmp_path / "model-final.safetensors").exists()
    assert not leftovers(tmp_path)


async def test_downloading_again_is_a_no_op_when_the_file_is_already_whole(vol: Path, tmp_path: Path) -> None:
    data = put_checkpoint(vol, "r7", "model-final", 7, 20_000)
    ckpt = pick_checkpoint(await list_remote_checkpoints(volume(), "r7"), "final")
    path = await download_checkpoint(volume(), ckpt, tmp_path)
    mtime = path.stat().st_mtime_ns
    again = await download_checkpoint(volume(), ckpt, tmp_path)
    assert again == path
    assert path.stat().st_mtime_ns == mtime
    assert path.read_bytes() == data
