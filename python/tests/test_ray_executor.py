"""The Ray executor on a local Ray (two CPU actors, one torch thread each): results identical to the
local executor, a helper killed mid-sweep, an actor that dies running a step, placement by model,
and no Ray process left after the worker is stopped."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (POLYQUANT_EXTRAS=ray npm install)")

from polyquant.api import run_direct  # noqa: E402
from polyquant.executor.actor import TEST_KILL_MARKER  # noqa: E402
from polyquant.executor.pool import Pool, reap_session  # noqa: E402
from quant_tiny import CORPUS, save_tiny  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # the local runs use one thread, as the actors do

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def local_ray():
    os.environ["POLYQUANT_TEST_KERNELS"] = "1"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny(str(tmp_path_factory.mktemp("ray-llama")), "tiny-llama", layers=4, seed=5)


def sweep_params(model_dir, mode="protect-one"):
    return {"model": {"id": model_dir}, "corpus": CORPUS, "quant": {"bits": 2, "group_size": 32}, "protocol": {"context_length": 24}, "mode": mode, "checkpoint_every": 2}


def run_job(pool, kernel, params, ctx=None, timeout_s=300):
    job = pool.submit(kernel, json.dumps(params), json.dumps(ctx or {}), None)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        envelope = pool.poll(job, 0.1)
        if envelope is not None:
            return json.loads(envelope)
    raise AssertionError(f"{kernel} did not finish in {timeout_s} s")


def events(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def same(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("mode", ["protect-one", "protect-cumulative"])
def test_a_sweep_fanned_out_over_two_actors_equals_the_local_executor(local_ray, model_dir, tmp_path, mode):
    pool = Pool.connect({"actors": 2, "threads": 1})
    try:
        ev = str(tmp_path / "events.jsonl")
        out = run_job(pool, "layer-sweep", sweep_params(model_dir, mode), {"events_path": ev})
        assert out["ok"], out.get("error")
        placed = [e["message"] for e in events(ev) if e["type"] == "log" and e["message"].startswith("running on")]
        assert placed and "helped by actor" in placed[0]  # the second actor evaluated configurations
        assert out["workers"] == 2  # both actors held: the budgets charge both
    finally:
        pool.close()
    assert same(out["result"], run_direct("layer-sweep", sweep_params(model_dir, mode)))


def test_a_helper_killed_mid_sweep_still_gives_identical_results(local_ray, model_dir, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv(TEST_KILL_MARKER, str(marker))  # the first unit a helper gets SIGKILLs its process
    pool = Pool.connect({"actors": 2, "threads": 1})
    try:
        ev = str(tmp_path / "events.jsonl")
        out = run_job(pool, "layer-sweep", sweep_params(model_dir), {"events_path": ev})
        assert marker.exists()  # a helper did die
        assert out["ok"], out.get("error")
        warnings = [e["message"] for e in events(ev) if e.get("level") == "warn"]
        assert any("helper actor died while evaluating " in w and "retry 1 of" in w for w in warnings), warnings
        assert pool.replaced == 1  # the dead helper was replaced when the step ended
        assert run_job(pool, "test-echo", {"message": "after"})["ok"]  # the pool still works
    finally:
        pool.close()
    monkeypatch.delenv(TEST_KILL_MARKER)
    assert same(out["result"], run_direct("layer-sweep", sweep_params(model_dir)))


def test_an_actor_that_dies_running_a_step_is_replaced_and_the_step_rerun_up_to_the_limit(local_ray, tmp_path):
    from polyquant.executor.pool import MAX_ACTOR_RETRIES

    pool = Pool.connect({"actors": 2, "threads": 1})
    try:
        ev = str(tmp_path / "events.jsonl")
        out = run_job(pool, "test-crash", {"how": "kill"}, {"events_path": ev})
        assert not out["ok"] and out["error"]["type"] == "ActorDiedError"
        assert f"{MAX_ACTOR_RETRIES + 1} times in a row" in out["error"]["message"]
        retries = [e["message"] for e in events(ev) if e.get("level") == "warn" and "retrying on another actor" in e["message"]]
        assert len(retries) == MAX_ACTOR_RETRIES
        assert pool.replaced == MAX_ACTOR_RETRIES + 1
        assert run_job(pool, "test-echo", {"message": "after"})["ok"]
    finally:
        pool.close()


def test_independent_steps_run_at_once_and_a_model_stays_with_its_actor(local_ray, model_dir, tmp_path):
    pool = Pool.connect({"actors": 2, "threads": 1})
    try:
        a = pool.submit("test-sleep", json.dumps({"seconds": 1.0}), "{}", None)
        b = pool.submit("test-sleep", json.dumps({"seconds": 1.0}), "{}", None)
        wa, wb = pool.where(a), pool.where(b)
        assert wa["state"] == wb["state"] == "running" and wa["actor"] != wb["actor"]
        third = pool.submit("test-echo", json.dumps({"message": "x"}), "{}", None)
        assert pool.where(third) == {"state": "queued"}  # both actors are busy: it waits its turn
        for job in (a, b, third):
            while pool.poll(job, 0.1) is None:
                pass
        ppl = {"model": {"id": model_dir}, "corpus": CORPUS, "protocol": {"context_length": 24}}
        first = pool.submit("perplexity", json.dumps(ppl), "{}", None)
        held_by = pool.where(first)["actor"]
        while pool.poll(first, 0.1) is None:
            pass
        again = pool.submit("perplexity", json.dumps(ppl), "{}", None)
        assert pool.where(again)["actor"] == held_by  # the actor holding the model, not a reload elsewhere
        while pool.poll(again, 0.1) is None:
            pass
    finally:
        pool.close()


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from polyquant import api
    reply = json.loads(api.submit("test-sleep", json.dumps({"seconds": 60}), "{}", json.dumps({"actors": 2, "threads": 1})))
    assert reply["ok"], reply
    print("submitted", flush=True)
    while True:
        api.poll(reply["result"]["job"], 0.2)
    """
)


def _tagged_processes(tag):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"POLYQUANT_TEST_TAG={tag}".encode() in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_a_stopped_worker_leaves_no_ray_process():
    """The runtime stops its worker with SIGTERM: the actors and the local Ray it started go too."""
    tag = uuid.uuid4().hex
    env = {**os.environ, "POLYQUANT_TEST_KERNELS": "1", "POLYQUANT_TEST_TAG": tag, "PYTHONPATH": PYTHON_DIR}
    proc = subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "submitted"
        assert len(_tagged_processes(tag)) > 2  # the worker, Ray's own processes, the actors
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _tagged_processes(tag) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _tagged_processes(tag) == []
    finally:
        for pid in _tagged_processes(tag):
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_reap_session_kills_only_processes_of_that_session(tmp_path):
    marker = str(tmp_path / "session_x")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "unrelated"])
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        deadline = time.monotonic() + 10  # until both have exec'd (their command lines are final)
        while time.monotonic() < deadline and not all(_cmdline(p.pid).endswith(arg) for p, arg in ((other, "unrelated"), (mine, marker))):
            time.sleep(0.05)
        assert reap_session(marker) == [mine.pid]
        assert mine.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None
    finally:
        other.kill()
        mine.kill()
