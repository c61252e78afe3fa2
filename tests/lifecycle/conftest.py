"""Fixtures for the on-chain loop: a trained tiny run, a funded wallet on the real devnet."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, run_cli
from tests.devnet_fixture import Devnet, devnet, shared_devnet  # noqa: F401 - fixtures
from tests.storage.conftest import aws_env, moto_endpoint, new_bucket, s3_admin  # noqa: F401 - fixtures


@dataclass
class Owner:
    """One model owner: a home of their own, a funded wallet, the devnet as the chain."""

    home: Path
    chain: Devnet
    address: str
    run: Path

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> CliResult:
        return run_cli("--home", str(self.home), *args, env=env, timeout=timeout)

    def json(self, *args: str) -> Any:
        r = self.cli(*args, "--json")
        assert r.returncode == 0, r.output
        return json.loads(r.stdout)

    def checkpoint(self, step: int) -> str:
        return str(self.run / "checkpoints" / f"checkpoint-{step:08d}.safetensors")

    def journal_rows(self, table: str) -> list[dict[str, Any]]:
        path = self.home / "journal.sqlite"
        if not path.exists():
            return []
        con = sqlite3.connect(path)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(f"SELECT * FROM {table} ORDER BY id")]
        finally:
            con.close()


def audit_secrets(owner: Owner, remember_secret: Any) -> None:
    """Hand every secret this owner has (signer key, decryption keys) to the session's secret audit,
    and check the files holding them are private."""
    key_file = next(owner.home.rglob("signer.key"))
    assert key_file.stat().st_mode & 0o777 == 0o600
    remember_secret(key_file.read_text().strip())
    journal = owner.home / "journal.sqlite"
    assert journal.stat().st_mode & 0o777 == 0o600
    for art in owner.journal_rows("artifacts"):
        remember_secret(art["decryption_key"])


def write_chain_config(home: Path, chain: Devnet, *, is_devnet: bool = True) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[chain]\ndefault = "devnet"\n\n[chain.profiles.devnet]\n'
        f'rpc_url = "{chain.rpc_url}"\nfaucet_url = "{chain.faucet_url}"\n'
        f'admin_url = "{chain.admin_url}"\nblob_url = "{chain.blob_url}"\n'
        f"is_devnet = {'true' if is_devnet else 'false'}\n",
        encoding="utf-8",
    )


def make_owner(tmp_path: Path, chain: Devnet, run: Path, name: str = "owner", soma: float = 50.0) -> Owner:
    home = tmp_path / name
    write_chain_config(home, chain)
    r = run_cli("--home", str(home), "wallet", "new", "--json")
    assert r.returncode == 0, r.output
    address = json.loads(r.stdout)["address"]
    chain.fund(address, soma)
    return Owner(home=home, chain=chain, address=address, run=run)


@pytest.fixture
def owner(tmp_path: Path, shared_devnet: Devnet, tiny_run: Path, home: Path) -> Owner:  # noqa: F811
    return make_owner(tmp_path, shared_devnet, tiny_run)


@pytest.fixture
def own_chain_owner(tmp_path: Path, devnet: Devnet, tiny_run: Path, home: Path) -> Owner:  # noqa: F811
    """An owner on a chain of its own (for tests that restart or stop the node)."""
    return make_owner(tmp_path, devnet, tiny_run)


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest
