"""The wallet and doctor commands, run as a user runs them (a real subprocess, no network)."""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat
from pathlib import Path

import pytest
from soma_sdk import Keypair

from soma_console.config import Home
from soma_console.core.wallet import load_signer
from tests.conftest import assert_one_line_error

UNREACHABLE = {"SOMA_CONSOLE_CHAIN": "http://127.0.0.1:9"}  # nothing listens on the discard port


def test_wallet_new_writes_a_private_key_file_and_never_prints_it(cli, home: Path, remember_secret) -> None:
    r = cli("wallet", "new", "--json")
    assert r.returncode == 0, r.output
    out = r.json()
    key_file = Path(out["key_file"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = next(ln for ln in key_file.read_text().splitlines() if ln and not ln.startswith("#"))
    remember_secret(secret)
    assert Keypair.from_secret_key(secret).address() == out["address"]
    assert secret not in r.output
    assert secret.removeprefix("0x") not in r.output

    shown = cli("wallet", "show", "--json", env=UNREACHABLE)
    assert shown.returncode == 0, shown.output
    info = shown.json()
    assert info["address"] == out["address"]
    assert "key file" in info["source"]
    assert info["balance"] is None
    assert "does not answer" in info["chain_error"]
    assert secret.removeprefix("0x") not in shown.output


def test_wallet_new_refuses_to_overwrite(cli, home: Path) -> None:
    assert cli("wallet", "new").returncode == 0
    before = (home / "keys" / "signer.key").read_bytes()
    r = cli("wallet", "new")
    assert_one_line_error(r, "already exists")
    assert (home / "keys" / "signer.key").read_bytes() == before


def test_show_without_a_wallet_says_how_to_make_one(cli, home: Path) -> None:
    assert_one_line_error(cli("wallet", "show"), "no wallet is configured", "wallet new")


@pytest.mark.parametrize("form", ["hex", "0xhex", "bech32", "spaces"])
def test_secret_key_from_env_in_every_accepted_form(cli, home: Path, form: str, remember_secret) -> None:
    kp = Keypair.generate()
    hex_key = kp.to_secret_key().removeprefix("0x")
    value = {
        "hex": hex_key,
        "0xhex": "0x" + hex_key,
        "bech32": kp.to_encoded(),
        "spaces": f"  {hex_key}\n",
    }[form]
    remember_secret(hex_key)
    remember_secret(kp.to_encoded())
    r = cli("wallet", "show", "--json", env={"SOMA_SECRET_KEY": value, **UNREACHABLE})
    assert r.returncode == 0, r.output
    assert r.json()["address"] == kp.address()
    assert r.json()["source"] == "$SOMA_SECRET_KEY"
    assert hex_key not in r.output


def test_bad_secret_key_in_env_is_one_line_without_the_value(cli, home: Path, remember_secret) -> None:
    bad = "not-a-key-" + "z" * 30
    remember_secret(bad)
    r = cli("wallet", "show", env={"SOMA_SECRET_KEY": bad})
    assert_one_line_error(r, "SOMA_SECRET_KEY", "not valid")
    assert bad not in r.output


def _soma_cli_wallet(root: Path, keys: list[Keypair], active: str | None) -> Path:
    cfg = root / "soma_config"
    cfg.mkdir(parents=True)
    entries = []
    for kp in keys:
        raw = bytes.fromhex(kp.to_secret_key().removeprefix("0x"))
        entries.append(base64.b64encode(b"\x00" + raw).decode())
    (cfg / "soma.keystore").write_text(json.dumps(entries))
    lines = [f"keystore:\n  File: {cfg / 'soma.keystore'}", "envs: []"]
    if active:
        lines.append(f"active_address: '0x{active}'")
    (cfg / "client.yaml").write_text("\n".join(lines) + "\n")
    return cfg


def test_soma_cli_wallet_active_address_is_used(cli, home: Path, tmp_path: Path, remember_secret) -> None:
    keys = [Keypair.generate(), Keypair.generate()]
    for kp in keys:
        remember_secret(kp.to_secret_key())
    cfg = _soma_cli_wallet(tmp_path / "soma", keys, active=keys[1].address())
    r = cli("wallet", "show", "--json", env={"SOMA_CONFIG_DIR": str(cfg), **UNREACHABLE})
    assert r.returncode == 0, r.output
    assert r.json()["address"] == keys[1].address()
    assert "soma CLI wallet" in r.json()["source"]


def test_soma_cli_wallet_with_unknown_active_address_is_refused(cli, home: Path, tmp_path: Path) -> None:
    cfg = _soma_cli_wallet(tmp_path / "soma", [Keypair.generate()], active="ab" * 32)
    assert_one_line_error(cli("wallet", "show", env={"SOMA_CONFIG_DIR": str(cfg)}), "active address")


def test_env_key_wins_over_key_file(cli, home: Path) -> None:
    assert cli("wallet", "new").returncode == 0
    kp = Keypair.generate()
    r = cli("wallet", "show", "--json", env={"SOMA_SECRET_KEY": kp.to_secret_key(), **UNREACHABLE})
    assert r.json()["address"] == kp.address()


def test_group_readable_key_file_is_refused(cli, home: Path) -> None:
    assert cli("wallet", "new").returncode == 0
    os.chmod(home / "keys" / "signer.key", 0o644)
    assert_one_line_error(cli("wallet", "show"), "readable by other users", "chmod 600")


def test_signer_repr_never_shows_the_secret(
    home: Path, monkeypatch: pytest.MonkeyPatch, remember_secret
) -> None:
    kp = Keypair.generate()
    secret = kp.to_secret_key()
    remember_secret(secret)
    monkeypatch.setenv("SOMA_SECRET_KEY", secret)
    signer = load_signer(Home.resolve(home))
    assert signer is not None
    text = repr(signer) + str(signer) + repr(signer._secret) + f"{signer._secret}"
    assert secret.removeprefix("0x") not in text
    assert signer.address in repr(signer)
    with pytest.raises(TypeError):
        pickle.dumps(signer._secret)


def test_doctor_without_network_reports_and_exits_zero(cli, home: Path) -> None:
    r = cli("doctor", "--json", env=UNREACHABLE)
    assert r.returncode == 0, r.output
    report = r.json()
    assert report["chain"]["reachable"] is False
    assert "does not answer" in report["chain"]["error"]
    assert report["wallet"]["configured"] is False
    assert report["packages"]["soma-sdk"]
    assert set(report["gpu"]) == {"present", "detail"}
    assert report["paths"]["journal"].startswith(str(home))
    human = cli("doctor", env=UNREACHABLE)
    assert human.returncode == 0
    assert "does not answer" in human.stdout


def test_unknown_chain_and_bad_home_are_one_line_errors(cli, home: Path, tmp_path: Path) -> None:
    assert_one_line_error(cli("--chain", "nowhere", "doctor"), "unknown chain")
    f = tmp_path / "afile"
    f.write_text("x")
    assert_one_line_error(cli("--home", str(f), "doctor"), "is a file")


def test_bad_config_file_is_one_line_error(cli, home: Path) -> None:
    (home / "config.toml").write_text("[chain\nbroken")
    assert_one_line_error(cli("doctor"), "not valid TOML")


def test_unknown_option_is_one_line_error(cli, home: Path) -> None:
    r = cli("wallet", "show", "--frobnicate")
    assert_one_line_error(r, "--frobnicate")
    assert r.returncode == 2
