"""A training run on Modal, end to end: the unmodified modal client, the fake control plane, the real
container code, and the stand-in worker as a real subprocess."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from soma_console.config import Home
from soma_console.errors import UserError
from soma_console.training import events as ev
from soma_console.training.modal.backend import ModalRun, ModalSettings
from soma_console.training.modal.launch import launch_modal_run
from soma_console.training.run_registry import modal_records
from tests.fake_modal.server import FakeModal
from tests.modal.conftest import APP, VOLUME


def settings(**kw: Any) -> ModalSettings:
    return ModalSettings(**{"app_name": APP, "volume_name": VOLUME, "timeout_s": 10.0, **kw})


def spec(run: str, **kw: Any) -> dict[str, Any]:
    return {"run": run, "preset": "tiny", "steps": 6, "checkpoint_every": 2, **kw}


async def collect(run: ModalRun, **kw: Any) -> list[ev.AnyRecord]:
    return [r async for r in run.events(**kw)]


def kinds(records: list[ev.AnyRecord]) -> list[str]:
    return [r.kind for r in records if not isinstance(r, ev.LogLine)]


async def test_launch_streams_the_same_events_and_lists_manifested_checkpoints(
    deployed: FakeModal, tmp_path: Path
) -> None:
    home = Home(tmp_path, tmp_path)
    run = await launch_modal_run(spec("r-stream", noise=True), gpu="A100", home=home, settings=settings())
    assert run.call_id.startswith("fc-")
    records = await collect(run)
    assert kinds(records) == [
        "started",
        *["step", "step", "checkpoint"] * 2,
        "step",
        "step",
        "checkpoint",
        "finished",
    ]
    steps = [r.step for r in records if isinstance(r, ev.Step)]
    assert steps == [1, 2, 3, 4, 5, 6]
    logs = [r.text for r in records if isinstance(r, ev.LogLine)]
    assert "plain log line at step 3" in logs
    assert "warning on stderr at step 3" in logs
    status = await run.status()
    assert status.state == "finished"
    assert status.result["finished"] is True
    ckpts = await run.checkpoints()
    assert [(c.stem, c.step, c.final) for c in ckpts] == [
        ("checkpoint-00000002", 2, False),
        ("checkpoint-00000004", 4, False),
        ("model-final", 6, True),
    ]
    assert ckpts[0].loss == pytest.approx(2.5)
    # every manifest was committed to the Volume as it appeared
    assert deployed.volume(VOLUME).commits >= 3
    assert [r.run for r in modal_records(home)] == ["r-stream"]


def _steps(records: list[ev.AnyRecord]) -> list[int]:
    return [r.step for r in records if isinstance(r, ev.Step)]


async def test_a_short_network_drop_is_invisible(deployed: FakeModal, tmp_path: Path) -> None:
    import asyncio

    deployed.split_log_writes = True  # lines also arrive cut across log entries
    run = await launch_modal_run(
        spec("r-blip", steps=10, sleep_s=0.1, checkpoint_every=5),
        home=Home(tmp_path, tmp_path),
        settings=settings(),
    )
    records: list[ev.AnyRecord] = []
    async for record in run.events():
        records.append(record)
        if isinstance(record, ev.Step) and record.step == 3:
            # the whole control plane goes away for a moment; the worker keeps logging meanwhile
            await asyncio.to_thread(deployed.drop_connections, 1.0)
    assert _steps(records) == list(range(1, 11))
    assert kinds(records)[-1] == "finished"


@pytest.mark.slow
@pytest.mark.parametrize(
    "stream_from_start", [True, False], ids=["server-replays", "server-streams-new-only"]
)
async def test_a_long_outage_reconnects_and_resumes_without_duplicates_or_gaps(
    deployed: FakeModal, tmp_path: Path, stream_from_start: bool
) -> None:
    deployed.stream_from_start = stream_from_start
    run = await launch_modal_run(
        spec(f"r-outage-{int(stream_from_start)}", steps=50, sleep_s=0.2, checkpoint_every=20),
        home=Home(tmp_path, tmp_path),
        settings=settings(),
    )
    records: list[ev.AnyRecord] = []
    async for record in run.events():
        records.append(record)
        if isinstance(record, ev.Step) and record.step == 3:
            deployed.log_outage(refused=10)  # all of modal's own retries fail: our reconnection must do it
    notices = [r.text for r in records if isinstance(r, ev.LogLine) and r.text.startswith("[modal]")]
    assert any("dropped" in n for n in notices), notices
    assert any("back" in n for n in notices), notices
    assert _steps(records) == list(range(1, 51))
    assert kinds(records).count("started") == 1
    assert kinds(records)[-1] == "finished"


async def test_a_stream_the_server_cuts_is_continued_from_its_last_entry(
    deployed: FakeModal, tmp_path: Path
) -> None:
    deployed.drop_log_streams = [2, 1]  # the next two streams break after 2 and 1 batches
    run = await launch_modal_run(
        spec("r-cut", steps=8, sleep_s=0.05), home=Home(tmp_path, tmp_path), settings=settings()
    )
    records = await collect(run)
    assert _steps(records) == list(range(1, 9))
    assert kinds(records)[-1] == "finished"


async def test_reattaching_by_call_id_from_another_machine_replays_the_whole_run(
    deployed: FakeModal, tmp_path: Path
) -> None:
    run = await launch_modal_run(
        spec("r-attach"), home=Home(tmp_path / "a", tmp_path / "a"), settings=settings()
    )
    first = await collect(run)
    other = ModalRun.attach(run.call_id, home=Home(tmp_path / "b", tmp_path / "b"), settings=settings())
    again = await collect(other)
    assert kinds(again) == kinds(first)
    assert [r.to_line() for r in again if isinstance(r, ev.Step)] == [
        r.to_line() for r in first if isinstance(r, ev.Step)
    ]
    history = await other.history()
    assert _steps(history) == _steps(first)


async def test_a_run_that_dies_shows_its_last_error_event(deployed: FakeModal, tmp_path: Path) -> None:
    run = await launch_modal_run(
        spec("r-oom", fail_at_step=3), home=Home(tmp_path, tmp_path), settings=settings()
    )
    records = await collect(run)
    errors = [r for r in records if isinstance(r, ev.Error)]
    assert [e.summary for e in errors] == ["CUDA out of memory at step 3."]  # shown once, not duplicated
    status = await run.status()
    assert status.state == "failed"
    assert status.detail == "CUDA out of memory at step 3."
    assert status.last_error is not None
    assert status.last_error.error == "oom"
    assert status.last_error.step == 3


async def test_a_run_lost_without_an_error_event_still_says_why(fake: FakeModal, tmp_path: Path) -> None:
    def lost(c: Any, spec_json: str, resume: bool = False, gpus: int = 1) -> None:
        c.stdout.write("booting\n")
        raise RuntimeError("container lost: host went away")

    fake.deploy("soma-test-lost", {"train": lost}, volume=VOLUME)
    run = await launch_modal_run(
        spec("r-lost"), home=Home(tmp_path, tmp_path), settings=settings(app_name="soma-test-lost")
    )
    records = await collect(run)
    last = records[-1]
    assert isinstance(last, ev.Error)
    assert "container lost: host went away" in last.summary
    assert (await run.status()).state == "failed"


async def test_stop_cancels_the_call_ends_the_worker_and_keeps_committed_checkpoints(
    deployed: FakeModal, tmp_path: Path
) -> None:
    home = Home(tmp_path, tmp_path)
    run = await launch_modal_run(spec("r-stop", steps=200, sleep_s=0.05), home=home, settings=settings())
    records: list[ev.AnyRecord] = []
    async for record in run.events():
        records.append(record)
        if isinstance(record, ev.CheckpointSaved) and record.step == 4:
            await run.stop()
    assert max(_steps(records)) < 200
    interrupted = [r for r in records if isinstance(r, ev.Error)]
    assert interrupted
    assert interrupted[-1].error == "interrupted"
    assert (await run.status()).state == "stopped"
    assert modal_records(home)[0].stop_requested
    call = deployed.calls[run.call_id]
    assert call.state == "cancelled"
    steps = [c.step for c in await run.checkpoints()]
    assert 2 in steps
    assert 4 in steps


async def test_gpus_and_gpu_type_reach_the_function(deployed: FakeModal, tmp_path: Path) -> None:
    run = await launch_modal_run(
        spec("r-gpus"), gpu="H100", gpus=4, home=Home(tmp_path, tmp_path), settings=settings()
    )
    records = await collect(run)
    assert deployed.calls[run.call_id].gpu == "H100:4"
    started = next(r for r in records if isinstance(r, ev.Started))
    assert started.spec["gpus"] == 4
    assert started.spec["out_dir"].endswith("runs/r-gpus")


async def test_an_existing_run_is_never_overwritten_and_resume_continues_it(
    deployed: FakeModal, tmp_path: Path
) -> None:
    home = Home(tmp_path, tmp_path)
    first = await launch_modal_run(spec("r-resume"), home=home, settings=settings())
    await collect(first)
    with pytest.raises(UserError, match="already has 3 checkpoint"):
        await launch_modal_run(spec("r-resume"), home=home, settings=settings())
    more = await launch_modal_run(spec("r-resume", steps=10), resume=True, home=home, settings=settings())
    records = await collect(more)
    started = next(r for r in records if isinstance(r, ev.Started))
    assert (
        started.start_step == 4
    )  # newest manifested checkpoint (model-final is not a resume point for the stand-in)
    assert _steps(records)[-1] == 10


async def test_resume_with_nothing_to_resume_is_refused(deployed: FakeModal, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no checkpoint .* to resume"):
        await launch_modal_run(
            spec("r-nothing"), resume=True, home=Home(tmp_path, tmp_path), settings=settings()
        )


async def test_a_second_launch_while_the_first_runs_is_refused(deployed: FakeModal, tmp_path: Path) -> None:
    home = Home(tmp_path, tmp_path)
    run = await launch_modal_run(spec("r-twice", steps=200, sleep_s=0.05), home=home, settings=settings())
    try:
        with pytest.raises(UserError, match="still running"):
            await launch_modal_run(spec("r-twice"), home=home, settings=settings())
    finally:
        await run.stop()


async def test_wrong_app_name_is_one_clear_error(deployed: FakeModal, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="'no-such-app' is not deployed"):
        await launch_modal_run(
            spec("r-x"),
            home=Home(tmp_path, tmp_path),
            settings=settings(app_name="no-such-app"),
            deploy_if_missing=False,
        )


async def test_wrong_volume_name_is_one_clear_error(deployed: FakeModal, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no Volume named 'no-such-volume'"):
        await launch_modal_run(
            spec("r-x"), home=Home(tmp_path, tmp_path), settings=settings(volume_name="no-such-volume")
        )


async def test_a_volume_other_than_the_apps_is_refused(deployed: FakeModal, tmp_path: Path) -> None:
    deployed.create_volume("some-other-volume")
    with pytest.raises(UserError, match="writes to a different Volume"):
        await launch_modal_run(
            spec("r-x"), home=Home(tmp_path, tmp_path), settings=settings(volume_name="some-other-volume")
        )


async def test_a_call_that_hangs_is_cut_by_our_timeout(deployed: FakeModal, tmp_path: Path) -> None:
    deployed.hang = {"FunctionGet"}
    t0 = time.monotonic()
    with pytest.raises(UserError, match=r"did not answer within 1 s while looking up Modal app"):
        await launch_modal_run(
            spec("r-hang"), home=Home(tmp_path, tmp_path), settings=settings(timeout_s=1.0)
        )
    assert time.monotonic() - t0 < 5


async def test_no_capacity_is_retried_with_backoff_then_said_in_one_sentence(
    deployed: FakeModal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soma_console.training.modal import client as modal_client

    monkeypatch.setattr(modal_client, "EXHAUSTED_BACKOFF_S", (0.1, 0.2))
    waits: list[str] = []
    deployed.exhaust_spawns = 2  # refused twice, then a GPU frees up
    run = await launch_modal_run(
        spec("r-capacity"), home=Home(tmp_path, tmp_path), settings=settings(), on_deploy=waits.append
    )
    assert kinds(await collect(run))[-1] == "finished"
    assert len(waits) == 2 and "no capacity" in waits[0]
    deployed.exhaust_spawns = 3  # never frees up within the tries
    with pytest.raises(UserError, match=r"^Modal has no capacity for this right now while launching run"):
        await launch_modal_run(spec("r-capacity-2"), home=Home(tmp_path, tmp_path), settings=settings())
    assert not [r for r in modal_records(Home(tmp_path, tmp_path)) if r.run == "r-capacity-2"]


async def test_log_lines_that_reach_the_log_service_after_the_call_ended_are_still_shown(
    deployed: FakeModal, tmp_path: Path
) -> None:
    deployed.log_lag_s = 1.5  # every line becomes visible 1.5 s after it was written
    run = await launch_modal_run(spec("r-lag"), home=Home(tmp_path, tmp_path), settings=settings())
    records = await collect(run)
    assert kinds(records)[-1] == "finished"
    assert [r.step for r in records if isinstance(r, ev.Step)] == [1, 2, 3, 4, 5, 6]
