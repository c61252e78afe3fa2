"""Modal's Volume model, as the fake now plays it: each container sees its own view, ``commit`` publishes
it, ``reload`` refreshes it (refused while files are open), a warm container is reused between calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from soma_console.training.events import LineAssembler, Started
from tests.fake_modal.server import FakeModal
from tests.modal.conftest import VOLUME, train_runner


def spec(run: str, steps: int) -> str:
    return json.dumps({"run": run, "preset": "tiny", "steps": steps, "checkpoint_every": 2})


def start_step(fake: FakeModal, call_id: str) -> int:
    text = "".join(r.data for r in fake.logs if r.function_call_id == call_id and r.fd == 1)
    a = LineAssembler()
    return next(r.start_step for r in a.feed(text) + a.flush() if isinstance(r, Started))


def run(fake: FakeModal, app: str, tag: str, spec_json: str) -> str:
    import modal

    call = modal.Function.from_name(app, tag).spawn(spec_json, resume=True)
    call.get(timeout=60)
    return str(call.object_id)


@pytest.mark.parametrize("reload", [True, False])
def test_a_reused_container_resumes_from_the_newest_checkpoint(fake: FakeModal, reload: bool) -> None:
    fake.isolated_volumes = True
    fake.reuse_containers = True
    run_name = f"warm-{reload}"
    fake.deploy(f"views-a-{reload}", {f"train_a_{reload}": train_runner(reload=reload)}, volume=VOLUME)
    fake.deploy(f"views-b-{reload}", {f"train_b_{reload}": train_runner(reload=reload)}, volume=VOLUME)
    # container A: steps 1..3 (checkpoint 2); container B, started later, continues to 5 (checkpoint 4)
    run(fake, f"views-a-{reload}", f"train_a_{reload}", spec(run_name, 3))
    run(fake, f"views-b-{reload}", f"train_b_{reload}", spec(run_name, 5))
    # A is reused (warm) for the next call: its view still holds only checkpoint 2
    call = run(fake, f"views-a-{reload}", f"train_a_{reload}", spec(run_name, 7))
    if reload:
        assert start_step(fake, call) == 4  # it reloaded and resumed from B's newer checkpoint
    else:
        assert start_step(fake, call) == 2  # the stale view: what the fake models and reload prevents


def test_a_reload_with_a_file_open_on_the_volume_is_refused(fake: FakeModal) -> None:
    from tests.fake_modal.server import Container

    fake.isolated_volumes = True
    fake.create_volume(VOLUME)
    calls: list[Any] = []

    def runner(c: Container) -> str:
        root = c.volume_dir(VOLUME)
        with (root / "journal.sqlite").open("w") as fh:
            fh.write("x")
            try:
                c.reload(VOLUME)
            except RuntimeError as exc:
                calls.append(str(exc))
        c.reload(VOLUME)  # closed: fine
        fake.commit_needs_reload = True
        held = (root / "other").open("w")
        try:
            c.commit(VOLUME)  # the server answers "reload needed": the commit fails like a reload
        except RuntimeError as exc:
            calls.append(str(exc))
        finally:
            held.close()
        return "done"

    fake.deploy("views-open", {"open_files": runner}, volume=VOLUME)
    run_open = __import__("modal").Function.from_name("views-open", "open_files").spawn()
    assert run_open.get(timeout=30) == "done"
    assert len(calls) == 2 and all("open files preventing the operation" in c for c in calls)
