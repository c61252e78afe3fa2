"""``soma-console weights``, run as a user runs it: a real subprocess, a temp home, no network."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from soma_sdk import SomaClient

from soma_console.core.journal import Journal
from soma_console.core.weights import key_commitment, key_from_b58, read_key_file
from tests.conftest import assert_one_line_error
from tests.weights_helpers import write_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-preset checkpoint written by the trainer's own save code."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "model-final.safetensors", seed=1)


def _journal_key(home: Path, artifact_id: int, remember_secret) -> str:
    with Journal.open(home / "journal.sqlite", create=False) as journal:
        artifact = journal.artifact(artifact_id)
    assert artifact is not None
    text = artifact.decryption_key.reveal()
    remember_secret(text)
    return text


def test_check_prints_the_architecture_and_dimensions(cli, checkpoint: Path) -> None:
    r = cli("weights", "check", str(checkpoint))
    assert r.returncode == 0, r.output
    assert "small" in r.stdout and "embedding_dim 64" in r.stdout and "status        ok" in r.stdout
    j = cli("weights", "check", str(checkpoint), "--json")
    assert j.returncode == 0, j.output
    report = j.json()
    assert report["architecture"] == "small" and report["ok"] is True
    assert report["config"] == {"embedding_dim": 64, "num_layers": 2, "ffn": 256, "vocab": 264}
    assert report["tensors"] == 37 and report["size"] == checkpoint.stat().st_size


def test_check_fails_with_one_line_on_a_broken_file(cli, checkpoint: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(checkpoint.read_bytes()[:-8])
    r = cli("weights", "check", str(cut))
    assert_one_line_error(r, str(cut), "failed the weights check", "truncated")
    assert "status        1 problem(s)" in r.stdout
    j = cli("weights", "check", str(cut), "--json")
    assert j.returncode == 1 and j.json()["ok"] is False


def test_encrypt_journals_a_fresh_key_and_never_prints_it(
    cli, home: Path, checkpoint: Path, tmp_path: Path, remember_secret
) -> None:
    dst = tmp_path / "out" / "model.enc"
    dst.parent.mkdir()
    r = cli("weights", "encrypt", str(checkpoint), "--out", str(dst), "--json")
    assert r.returncode == 0, r.output
    out = r.json()
    key_text = _journal_key(home, out["artifact_id"], remember_secret)
    assert key_text not in r.output
    # the file is exactly what the SDK makes with that key, and the figures are the SDK's
    enc, _ = SomaClient.encrypt_weights(checkpoint.read_bytes(), key=key_text)
    assert dst.read_bytes() == enc
    assert out["commitment"] == SomaClient.commitment(enc)
    assert out["key_commitment"] == key_commitment(key_from_b58(key_text))
    assert (out["size"], out["architecture"], out["chain"], out["key"]) == (
        len(enc),
        "small",
        "devnet",
        "journal",
    )
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "journal.sqlite").stat().st_mode) == 0o600
    with Journal.open(home / "journal.sqlite", create=False) as journal:
        artifact = journal.artifact(out["artifact_id"])
    assert artifact is not None
    assert (artifact.commitment, artifact.size, artifact.architecture) == (
        out["commitment"],
        len(enc),
        "small",
    )
    assert artifact.encrypted_path == str(dst.resolve())
    assert key_text not in repr(artifact)

    back = tmp_path / "back.safetensors"
    d = cli(
        "weights", "decrypt", str(dst), "--out", str(back), "--artifact", str(out["artifact_id"]), "--json"
    )
    assert d.returncode == 0, d.output
    assert d.json() == {"path": str(back), "size": len(enc), "commitment_checked": True}
    assert back.read_bytes() == checkpoint.read_bytes()

    plain = cli("weights", "encrypt", str(checkpoint), "--out", str(tmp_path / "second.enc"))
    assert plain.returncode == 0, plain.output
    assert "artifact        2 on devnet" in plain.stdout
    second = _journal_key(home, 2, remember_secret)
    assert second != key_text and second not in plain.output


def test_encrypt_with_a_key_file_writes_it_once_then_reuses_it(
    cli, home: Path, checkpoint: Path, tmp_path: Path, remember_secret
) -> None:
    key_file = tmp_path / "model.key"
    first = cli(
        "weights",
        "encrypt",
        str(checkpoint),
        "--out",
        str(tmp_path / "a.enc"),
        "--key-file",
        str(key_file),
        "--json",
    )
    assert first.returncode == 0, first.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = key_file.read_text().strip()
    remember_secret(text)
    assert text not in first.output
    second = cli(
        "weights",
        "encrypt",
        str(checkpoint),
        "--out",
        str(tmp_path / "b.enc"),
        "--key-file",
        str(key_file),
        "--json",
    )
    assert second.returncode == 0, second.output
    assert first.json()["commitment"] == second.json()["commitment"]  # same key, same bytes
    assert (tmp_path / "a.enc").read_bytes() == (tmp_path / "b.enc").read_bytes()
    assert read_key_file(key_file) == key_from_b58(
        _journal_key(home, second.json()["artifact_id"], remember_secret)
    )

    raw_file = tmp_path / "raw.key"
    raw_file.write_bytes(os.urandom(32))
    raw_file.chmod(0o600)
    remember_secret(raw_file.read_bytes())
    r = cli(
        "weights",
        "encrypt",
        str(checkpoint),
        "--out",
        str(tmp_path / "c.enc"),
        "--key-file",
        str(raw_file),
        "--json",
    )
    assert r.returncode == 0, r.output
    enc, _ = SomaClient.encrypt_weights(checkpoint.read_bytes(), key=raw_file.read_bytes())
    assert (tmp_path / "c.enc").read_bytes() == enc

    d = cli(
        "weights",
        "decrypt",
        str(tmp_path / "c.enc"),
        "--out",
        str(tmp_path / "c.dec"),
        "--key-file",
        str(raw_file),
    )
    assert d.returncode == 0, d.output
    assert (tmp_path / "c.dec").read_bytes() == checkpoint.read_bytes()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_bad_input_gets_one_line_and_leaves_nothing(
    cli, home: Path, checkpoint: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    empty, garbage, bad_key = work / "empty.safetensors", work / "garbage.safetensors", work / "bad.key"
    empty.write_bytes(b"")
    garbage.write_bytes(os.urandom(5000))
    bad_key.write_text("definitely-not-a-key-0OIl\n")
    src = str(checkpoint)
    out = str(work / "out.enc")
    cases = [
        (("weights", "check", str(work / "missing.safetensors")), ("does not exist",)),
        (("weights", "check", str(work)), ("is a directory",)),
        (("weights", "check", str(empty)), ("not a safetensors file",)),
        (("weights", "check", str(garbage)), ("not a safetensors file",)),
        (("weights", "encrypt", str(work / "missing"), "--out", out), ("does not exist",)),
        (("weights", "encrypt", str(work), "--out", out), ("is a directory",)),
        (("weights", "encrypt", str(empty), "--out", out), ("not a safetensors file",)),
        (("weights", "encrypt", str(garbage), "--out", out), ("not a safetensors file",)),
        (("weights", "encrypt", src, "--out", str(work / "nodir" / "x.enc")), ("does not exist",)),
        (("weights", "encrypt", src, "--out", src), ("is the input file",)),
        (("weights", "encrypt", src, "--out", str(work)), ("is a directory",)),
        (("weights", "encrypt", src, "--out", out, "--key-file", str(bad_key)), ("neither 32 raw bytes",)),
        (("weights", "encrypt", src, "--out", out, "--key-file", str(work)), ("is a directory",)),
        (
            ("weights", "encrypt", src, "--out", out, "--key-file", str(work / "nodir" / "k")),
            ("does not exist",),
        ),
        (("weights", "encrypt", src, "--out", out, "--key-file", out), ("names the input or the output",)),
        (("weights", "decrypt", src, "--out", out), ("exactly one of",)),
        (("weights", "decrypt", src, "--out", out, "--artifact", "1"), ("no journal",)),
        (("weights", "decrypt", src, "--out", out, "--key-file", str(bad_key)), ("neither 32 raw bytes",)),
        (("weights", "encrypt", src), ("--out",)),
    ]
    for args, needles in cases:
        r = cli(*args)
        assert_one_line_error(r, *needles)
        assert "definitely-not-a-key" not in r.output
    assert _files(work) == ["bad.key", "empty.safetensors", "garbage.safetensors"]
    assert not (home / "journal.sqlite").exists()
    # garbage in, with --no-check, still encrypts: the check is what refuses, not the cipher
    r = cli("weights", "encrypt", str(garbage), "--out", out, "--no-check", "--json")
    assert r.returncode == 0, r.output
    assert r.json()["architecture"] is None
    # an artifact that is not there, and a ciphertext that is not the artifact's
    assert_one_line_error(
        cli("weights", "decrypt", out, "--out", str(work / "d"), "--artifact", "99"), "no artifact 99"
    )
    assert_one_line_error(
        cli(
            "weights",
            "decrypt",
            str(garbage),
            "--out",
            str(work / "d"),
            "--artifact",
            str(r.json()["artifact_id"]),
        ),
        "does not match the recorded commitment",
    )
    assert not (work / "d").exists()
    assert not [n for n in _files(work) if n.startswith(".")]


def test_a_journal_that_cannot_be_written_leaves_no_encrypted_file(
    cli, home: Path, checkpoint: Path, tmp_path: Path
) -> None:
    (home / "journal.sqlite").write_bytes(b"this is not an sqlite database" * 100)
    dst = tmp_path / "x.enc"
    r = cli("weights", "encrypt", str(checkpoint), "--out", str(dst))
    assert_one_line_error(r, "journal")
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
