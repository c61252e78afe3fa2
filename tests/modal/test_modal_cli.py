"""The ``modal`` and ``cron`` commands as a user runs them: real CLI subprocesses, the unmodified
modal client, the fake control plane on loopback."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult, assert_one_line_error
from tests.fake_modal.server import FakeModal
from tests.modal.conftest import APP, VOLUME, train_runner

FLAGS = ["--app", APP, "--volume", VOLUME]


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"run": "cli-run", "preset": "tiny", "steps": 6, "checkpoint_every": 2}))
    return path


def write_spec(tmp_path: Path, run: str, **kw: object) -> Path:
    path = tmp_path / f"{run}.json"
    path.write_text(json.dumps({"run": run, "preset": "tiny", "steps": 6, "checkpoint_every": 2, **kw}))
    return path


def test_no_credentials_is_one_line_at_once(cli: object, spec_file: Path, tmp_path: Path) -> None:
    env = {"MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": "", "MODAL_CONFIG_PATH": str(tmp_path / "none.toml")}
    t0 = time.monotonic()
    r: CliResult = cli("modal", "launch", str(spec_file), env=env)  # type: ignore[operator]
    assert_one_line_error(r, "no Modal credentials", "modal token new")
    for args in (["modal", "status", "fc-123"], ["modal", "checkpoints", "x"], ["cron", "status"]):
        assert_one_line_error(cli(*args, env=env), "no Modal credentials")  # type: ignore[operator]
    assert time.monotonic() - t0 < 30  # four process starts, no network wait


def test_a_rejected_token_is_one_line(cli: object, fake: FakeModal, spec_file: Path) -> None:
    r = cli("modal", "launch", str(spec_file), *FLAGS, env={"MODAL_TOKEN_SECRET": "as-wrong"})  # type: ignore[operator]
    assert_one_line_error(r, "Modal rejected the credentials", "modal token new")


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback port that accepts connections and never says a word (a token but no network)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_a_silent_network_hits_our_timeout_not_a_minute_of_retries(
    cli: object, blackhole: str, spec_file: Path
) -> None:
    env = {"MODAL_SERVER_URL": blackhole, "SOMA_CONSOLE_MODAL_TIMEOUT": "2"}
    t0 = time.monotonic()
    r = cli("modal", "launch", str(spec_file), *FLAGS, env=env, timeout=60)  # type: ignore[operator]
    assert_one_line_error(r, "did not answer within 2 s")
    assert time.monotonic() - t0 < 20


def test_deploy_builds_the_app_the_way_modal_deploys_it(cli: object, fake: FakeModal) -> None:
    r = cli("modal", "deploy", "--app", "soma-cli-deployed", "--volume", "soma-cli-vol", "--gpu", "H100")  # type: ignore[operator]
    assert r.returncode == 0, r.output
    assert "deployed Modal app soma-cli-deployed" in r.stdout
    fn = fake.app_function("soma-cli-deployed", "train")
    assert fn is not None
    assert fn.definition.resources.gpu_config.gpu_type == "H100"
    assert fn.definition.timeout_secs == 24 * 3600
    assert [m.mount_path for m in fn.definition.volume_mounts] == ["/vol"]
    assert fn.definition.volume_mounts[0].volume_id == fake.volume("soma-cli-vol").volume_id
    assert any(name.endswith("soma_console/training/modal/container.py") for name in fake.mounted_files)
    assert not fake.unimplemented
    # what the container will run: the serialized function, whole (its closure pickles and loads)
    from modal._vendor import cloudpickle

    train = cloudpickle.loads(fn.definition.function_serialized)
    assert train.__name__ == "train"
    assert train.__code__.co_varnames[:3] == ("spec_json", "resume", "gpus")


def test_launch_deploys_a_missing_app_then_runs_on_its_volume(
    cli: object, fake: FakeModal, tmp_path: Path
) -> None:
    fake.runners["train"] = train_runner("soma-cli-auto-vol")  # what the deployed function runs in the fake
    spec = write_spec(tmp_path, "cli-auto")
    flags = ["--app", "soma-cli-auto", "--volume", "soma-cli-auto-vol"]
    r = cli("modal", "launch", str(spec), *flags, "-f")  # type: ignore[operator]
    assert r.returncode == 0, r.output
    assert "deploying Modal app 'soma-cli-auto'" in r.stderr
    assert "finished at step 6" in r.stdout
    assert fake.app_function("soma-cli-auto", "train") is not None
    assert (fake.volume("soma-cli-auto-vol").root / "runs/cli-auto/model-final.json").exists()
    assert not fake.unimplemented


def test_launch_follow_status_logs_checkpoints_download(
    cli: object, deployed: FakeModal, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, "cli-ok")
    r = cli("modal", "launch", str(spec), *FLAGS, "-f", "--json")  # type: ignore[operator]
    assert r.returncode == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e.get("soma_event") for e in events if "soma_event" in e][-1] == "finished"
    assert [e["step"] for e in events if e.get("soma_event") == "step"] == [1, 2, 3, 4, 5, 6]

    st = cli("modal", "status", "cli-ok", "--json")  # type: ignore[operator]
    assert json.loads(st.stdout)["state"] == "finished"
    logs = cli("modal", "logs", "cli-ok")  # type: ignore[operator]
    assert "step 6/6  loss 0.8333" in logs.stdout
    ck = cli("modal", "checkpoints", "cli-ok", "--volume", VOLUME, "--json")  # type: ignore[operator]
    assert [c["step"] for c in json.loads(ck.stdout)] == [2, 4, 6]
    dest = tmp_path / "dl"
    dl = cli("modal", "download", "cli-ok", "4", "--volume", VOLUME, "--to", str(dest), "--json")  # type: ignore[operator]
    assert dl.returncode == 0, dl.output
    got = json.loads(dl.stdout)
    assert Path(got["weights"]).name == "checkpoint-00000004.safetensors"
    assert json.loads(Path(got["manifest"]).read_text())["step"] == 4
    runs = cli("modal", "runs", "--json")  # type: ignore[operator]
    assert [(x["run"], x["state"]) for x in json.loads(runs.stdout)] == [("cli-ok", "finished")]


def test_status_of_a_dead_run_shows_its_last_error_event(
    cli: object, deployed: FakeModal, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, "cli-oom", fail_at_step=3)
    r = cli("modal", "launch", str(spec), *FLAGS, "-f")  # type: ignore[operator]
    assert r.returncode == 1
    assert "ERROR (oom) at step 3: CUDA out of memory at step 3." in r.stdout
    st = cli("modal", "status", "cli-oom")  # type: ignore[operator]
    assert st.returncode == 0
    assert "failed; last error event: ERROR (oom) at step 3: CUDA out of memory at step 3." in st.stdout


def test_stop_needs_a_yes_and_then_stops(cli: object, deployed: FakeModal, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "cli-stop", steps=400, sleep_s=0.05)
    r = cli("modal", "launch", str(spec), *FLAGS, "--json")  # type: ignore[operator]
    call_id = json.loads(r.stdout)["call_id"]
    assert_one_line_error(cli("modal", "stop", "cli-stop"), "needs confirmation")  # type: ignore[operator]
    assert deployed.calls[call_id].state == "running"
    s = cli("modal", "stop", "cli-stop", "--yes")  # type: ignore[operator]
    assert s.returncode == 0, s.output
    deadline = time.monotonic() + 30
    while deployed.calls[call_id].state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert deployed.calls[call_id].state == "cancelled"


def test_wrong_names_are_one_line(cli: object, deployed: FakeModal, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "cli-names")
    r = cli("modal", "checkpoints", "cli-names", "--volume", "no-such-vol")  # type: ignore[operator]
    assert_one_line_error(r, "no Volume named 'no-such-vol'")
    r = cli("modal", "status", "no-such-run")  # type: ignore[operator]
    assert_one_line_error(r, "no Modal run named 'no-such-run'")
    for cmd in ("status", "logs"):
        r = cli("modal", cmd, "fc-0000000000nothere")  # type: ignore[operator]
        assert_one_line_error(r, "Modal has no function call fc-0000000000nothere")
    r = cli("modal", "launch", str(spec), "--gpu", "T4", *FLAGS)  # type: ignore[operator]
    assert_one_line_error(r, "unknown GPU type 'T4'")


def test_train_backend_modal_launches_and_streams_like_a_local_run(
    cli: object, deployed: FakeModal, home: Path
) -> None:
    (home / "config.toml").write_text(f'[modal]\napp = "{APP}"\nvolume = "{VOLUME}"\n')
    r = cli(
        "train",
        "--backend",
        "modal",
        "--preset",
        "tiny",
        "--steps",
        "6",
        "--checkpoint-every",
        "2",
        "--run",
        "from-train",
    )  # type: ignore[operator]
    assert r.returncode == 0, r.output
    assert "launched run from-train on Modal" in r.stdout
    assert "finished at step 6" in r.stdout
    ck = cli("modal", "checkpoints", "from-train", "--json")  # type: ignore[operator]
    assert [c["step"] for c in json.loads(ck.stdout)] == [2, 4, 6]
    runs = cli("runs", "--json")  # type: ignore[operator]
    assert [(x["run"], x["backend"]) for x in json.loads(runs.stdout)] == [("from-train", "modal")]


def test_an_image_that_does_not_build_is_one_line_and_deploys_nothing(cli: object, fake: FakeModal) -> None:
    fake.image_build_error = "ERROR: No matching distribution found for soma-models<0.2,>=0.1.7"
    r = cli("modal", "deploy", "--app", "soma-cli-nobuild", "--volume", "soma-cli-vol")  # type: ignore[operator]
    assert_one_line_error(
        r, "the image did not build", "No matching distribution found", "modal image logs im-"
    )
    assert fake.app_function("soma-cli-nobuild", "train") is None
