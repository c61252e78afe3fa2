"""``soma-console weights``: check a checkpoint, encrypt it for a commit, decrypt it back.

Encryption never prints the key. Without ``--key-file`` the fresh key lives only in the journal
(mode 0600), written there before the command reports success; if that write fails the encrypted
file is removed, since nothing could ever decrypt it.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from soma_console.cli.output import print_json, stdout_console
from soma_console.context import AppContext
from soma_console.core.journal import Journal
from soma_console.core.weights import (
    WeightsReport,
    check_weights,
    decrypt_file,
    encrypt_file,
    key_commitment,
    key_to_b58,
    new_key,
    read_key_file,
    write_key_file,
)
from soma_console.core.weights.stream import check_destination, check_source
from soma_console.errors import UsageError, UserError
from soma_console.secrets import Secret

_PATH = click.Path(dir_okay=True, file_okay=True, path_type=Path)


@click.group()
def weights() -> None:
    """Check, encrypt and decrypt model weights (safetensors)."""


def _summary(report: WeightsReport) -> str:
    first = report.problems[0]
    more = len(report.problems) - 1
    return first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def _refuse(report: WeightsReport, action: str) -> UserError:
    return UserError(f"{report.path} {action}: {_summary(report)}.")


def _print_report(report: WeightsReport) -> None:
    con = stdout_console()
    con.print(f"file          {report.path} ({report.size:,} bytes)", markup=False)
    if report.architecture == "v1":
        arch = "v1 (the on-chain architecture)"
    elif report.architecture == "small":
        arch = "small (V1 family, other dimensions: devnet only)"
    else:
        arch = "unknown (not the V1 layout)"
    con.print(f"architecture  {arch}", markup=False)
    if report.config:
        dims = ", ".join(f"{k} {v}" for k, v in report.config.items())
        con.print(f"dimensions    {dims}", markup=False)
    dtypes = f"; {', '.join(report.dtypes)}" if report.dtypes else ""
    con.print(f"tensors       {report.tensors} ({report.parameters:,} parameters{dtypes})", markup=False)
    if report.ok:
        con.print("status        ok", markup=False)
        return
    con.print(f"status        {len(report.problems)} problem(s)", markup=False)
    for problem in report.problems:
        con.print(f"  - {problem}", markup=False)


@weights.command("check")
@click.argument("file", type=_PATH)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def weights_check(file: Path, as_json: bool) -> None:
    """Validate a safetensors FILE against the V1 layout without loading it; exit 1 if it fails."""
    check_source(file)
    report = check_weights(file)
    if as_json:
        print_json(report.to_json())
    else:
        _print_report(report)
    if not report.ok:
        raise _refuse(report, "failed the weights check")


def _existing_key(key_file: Path | None, src: Path, dst: Path) -> Secret | None:
    """The key in ``--key-file`` if it exists; otherwise check that a new one can be written there."""
    if key_file is None:
        return None
    if key_file.resolve() in (src.resolve(), dst.resolve()):
        raise UsageError(f"--key-file {key_file} names the input or the output.", hint="Use another path.")
    if key_file.exists():
        return read_key_file(key_file)
    if not key_file.parent.is_dir():
        raise UserError(f"the directory {key_file.parent} does not exist.", hint="Create it first.")
    return None


class _Progress:
    """A percentage on stderr when a person is watching; nothing in scripts and logs."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if self.enabled and pct != self.last:
            self.last = pct
            click.echo(f"\r{pct:3d}% of {total:,} bytes", err=True, nl=False)

    def finish(self) -> None:
        if self.enabled and self.last >= 0:
            click.echo("", err=True)


@weights.command("encrypt")
@click.argument("src", type=_PATH)
@click.option("--out", "dst", type=_PATH, required=True, help="Where to write the encrypted file.")
@click.option(
    "--key-file",
    type=_PATH,
    help="Use the key in this file (Base58 or 32 raw bytes); if it does not exist, write a new one there.",
)
@click.option("--no-check", is_flag=True, help="Encrypt even a file that fails `weights check`.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def weights_encrypt(
    app: AppContext, src: Path, dst: Path, key_file: Path | None, no_check: bool, as_json: bool
) -> None:
    """Encrypt SRC (AES-256-CTR, streamed) into --out and record the artifact in the journal.

    Prints the size, the commitment (Base58 Blake2b-256 of the encrypted bytes), the key
    commitment and the artifact id; never the key.
    """
    check_source(src)
    check_destination(src, dst)
    architecture: str | None = None
    if not no_check:
        report = check_weights(src)
        if not report.ok:
            raise _refuse(report, "is not fit to commit")
        architecture = report.architecture
    key = _existing_key(key_file, src, dst)
    # Open the journal before anything is written: a key must never exist only in memory.
    journal = Journal.open(app.home.journal_path)
    with journal:
        if key is None:
            key = new_key()
            if key_file is not None:
                write_key_file(key_file, key)  # before the ciphertext exists
        progress = _Progress()
        try:
            result = encrypt_file(src, dst, key, progress=progress)
        finally:
            progress.finish()
        try:
            artifact = journal.add_artifact(
                chain=app.chain.name,
                source_path=str(src.resolve()),
                source_size=result.source_size,
                source_digest=result.source_digest,
                encrypted_path=str(dst.resolve()),
                size=result.size,
                commitment=result.commitment,
                key_commitment=key_commitment(key),
                decryption_key=key_to_b58(key),
                architecture=architecture,
            )
        except BaseException:
            with contextlib.suppress(OSError):
                dst.unlink()
            raise
    out: dict[str, Any] = {
        "artifact_id": artifact.id,
        "chain": artifact.chain,
        "path": str(dst),
        "size": result.size,
        "commitment": result.commitment,
        "key_commitment": artifact.key_commitment,
        "key": "journal" if key_file is None else str(key_file),
        "source_path": str(src),
        "source_digest": result.source_digest,
        "architecture": architecture,
    }
    if as_json:
        print_json(out)
        return
    con = stdout_console()
    con.print(f"encrypted       {src} -> {dst} ({result.size:,} bytes)", markup=False)
    con.print(f"commitment      {result.commitment}", markup=False)
    con.print(f"key commitment  {artifact.key_commitment}", markup=False)
    where = "the journal" if key_file is None else f"{key_file} and the journal"
    con.print(f"artifact        {artifact.id} on {artifact.chain} (key kept in {where})", markup=False)


@weights.command("decrypt")
@click.argument("src", type=_PATH)
@click.option("--out", "dst", type=_PATH, required=True, help="Where to write the decrypted file.")
@click.option("--key-file", type=_PATH, help="The key file (Base58 or 32 raw bytes).")
@click.option(
    "--artifact", "artifact_id", type=int, help="Use the key (and check the commitment) of this artifact."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def weights_decrypt(
    app: AppContext, src: Path, dst: Path, key_file: Path | None, artifact_id: int | None, as_json: bool
) -> None:
    """Decrypt SRC into --out with a key file or a journaled artifact's key."""
    if (key_file is None) == (artifact_id is None):
        raise UsageError("give exactly one of --key-file and --artifact.")
    check_source(src, "encrypted file")
    check_destination(src, dst)
    expected: str | None = None
    if key_file is not None:
        key = read_key_file(key_file)
    else:
        with Journal.open(app.home.journal_path, create=False) as journal:
            artifact = journal.artifact(int(artifact_id or 0))
        if artifact is None:
            raise UserError(
                f"there is no artifact {artifact_id} in the journal.", hint="`weights encrypt` prints its id."
            )
        key, expected = artifact.decryption_key, artifact.commitment
    progress = _Progress()
    try:
        size = decrypt_file(src, dst, key, progress=progress, expected_commitment=expected)
    finally:
        progress.finish()
    if as_json:
        print_json({"path": str(dst), "size": size, "commitment_checked": expected is not None})
        return
    checked = " (commitment checked)" if expected is not None else ""
    stdout_console().print(f"decrypted  {src} -> {dst} ({size:,} bytes){checked}", markup=False)
