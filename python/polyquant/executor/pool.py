"""The Ray executor's driver side: the actors, which step runs on which, and what a dead actor costs.

The pythonia worker is the Ray driver. `Pool.connect` starts a local Ray (or joins `address`:
`auto` or HOST:PORT) and makes the actors: one per GPU (`num_gpus=1`) when the cluster has GPUs,
else `actors` CPU actors (default 2) with `threads` torch threads each. The engine submits a step
(`submit`) and polls it (`poll`); it decides how many steps run at once (one per actor).

Placement, in submission order: an idle actor that already holds the step's model, else an idle
actor holding no model, else any idle actor. A step whose kernel fans out (FAN_OUT_KERNELS) is lent
every other idle actor as a helper, those holding its model first; helpers go back when it ends.

Faults: an actor that dies (OOM kill, a preempted node) is replaced; the step it ran is run again on
another actor, up to MAX_ACTOR_RETRIES times, from its last checkpoint (the files outlive the
actor), and the retry is written to the step's events (the dashboard's log). A cluster that goes
away fails the step with `RayClusterLost`, which the engine records; `polyquant resume` finishes
the run. `shutdown` stops the actors and a local Ray's processes (api.py's watchdog calls it when
the Node parent dies), so Ctrl-C or kill -9 of the CLI leaves no Ray process behind.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Optional

log = logging.getLogger("polyquant.executor")

FAN_OUT_KERNELS = frozenset({"layer-sweep"})
MAX_ACTOR_RETRIES = 2  # a step whose actor died this many times more fails with ActorDiedError
DEFAULT_CPU_ACTORS = 2
HELPER_CLOSE_TIMEOUT_S = 30.0


def model_key(params: dict) -> Optional[str]:
    """The resident-model key of a step's `model` parameter (None when it has none)."""
    spec = params.get("model")
    if not isinstance(spec, (dict, str)):
        return None
    from ..models.resident import canonical_key

    try:
        return canonical_key(spec)
    except Exception:  # noqa: BLE001 - a spec the kernel will reject itself
        return None


@dataclass
class Slot:
    index: int
    handle: Any
    gpus: int
    models: set = field(default_factory=set)  # keys of the models it holds (its resident copies)
    job: Optional[str] = None  # the step it runs
    helping: Optional[str] = None  # the step it is lent to
    info_ref: Any = None  # node, pid, GPU ids: asked as the actor is made (before any step queues behind it)
    info: Optional[dict] = None

    @property
    def idle(self) -> bool:
        return self.job is None and self.helping is None


@dataclass
class Job:
    id: str
    kernel: str
    params_json: str
    ctx_json: str
    log_path: Optional[str]
    model: Optional[str]
    events_path: Optional[str]
    ref: Any = None
    slot: Optional[Slot] = None
    helpers: list = field(default_factory=list)
    retries: int = 0
    envelope: Optional[str] = None


def _envelope_error(type_: str, message: str, retryable: bool = False) -> str:
    return json.dumps({"ok": False, "error": {"type": type_, "message": message, "traceback": "", "retryable": retryable, "polyquant": True}})


def _append_event(path: Optional[str], event: dict) -> None:
    """A line for the step's events file, as a kernel writes it (context.py): the dashboard shows it."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({**event, "t": time.time()}, separators=(",", ":")) + "\n")


class Pool:
    def __init__(self, ray: Any, address: Optional[str], actors: int, gpus_per_actor: int, threads: Optional[int], started_ray: bool) -> None:
        from .actor import KernelActor

        self.ray, self.address, self.started_ray = ray, address, started_ray
        self.gpus_per_actor, self.threads = gpus_per_actor, threads
        # the actors see this process's POLYQUANT_* settings and import polyquant from the same folder
        env = {k: v for k, v in os.environ.items() if k.startswith("POLYQUANT_") or k in ("PYTHONPATH", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        python_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join([python_dir, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != python_dir]])
        self.remote_class = ray.remote(KernelActor).options(
            num_cpus=0 if gpus_per_actor else 1, num_gpus=gpus_per_actor, max_restarts=0, max_task_retries=0, runtime_env={"env_vars": env}
        )
        self.slots = [self._new_slot(i) for i in range(actors)]
        self.jobs: dict[str, Job] = {}
        self.order: list[str] = []  # unplaced jobs, in submission order
        self.counter = 0
        self.session_dir = _session_dir(ray)
        self.replaced = 0

    # ---- making the pool ----

    @classmethod
    def connect(cls, options: dict) -> "Pool":
        import ray

        address = options.get("address") or None
        init = dict(include_dashboard=False, log_to_driver=False, namespace="polyquant", configure_logging=False)
        started = not ray.is_initialized()
        if started:
            if address:
                ray.init(address=address, **init)
            else:
                ray.init(num_cpus=int(options.get("cpus") or os.cpu_count() or 1), **init)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        wanted = options.get("actors")
        if gpus > 0:
            actors, per = int(wanted or gpus), 1
        else:
            actors, per = int(wanted or min(DEFAULT_CPU_ACTORS, cpus)), 0
        threads = options.get("threads") or (None if gpus else max(1, cpus // max(1, actors)))
        pool = cls(ray, address, actors, per, threads, started_ray=started and not address)
        _on_sigterm(pool)
        log.info("Ray executor: %d actor(s) on %s (cluster: %s)", actors, address or "a local Ray", resources)
        return pool

    def _new_slot(self, index: int) -> Slot:
        handle = self.remote_class.remote(index, self.threads)
        return Slot(index=index, handle=handle, gpus=self.gpus_per_actor, info_ref=handle.info.remote())

    def _slot_info(self, slot: Slot) -> dict:
        if slot.info is None:
            try:
                slot.info = self.ray.get(slot.info_ref, timeout=120)
            except Exception:  # noqa: BLE001 - described as unknown, the job will say more
                slot.info = {"index": slot.index, "pid": None, "node": "?", "gpus": []}
        return slot.info

    def describe(self) -> dict:
        """The pool for `doctor`, `plan` and the dashboard: its actors and the cluster's resources."""
        return {
            "address": self.address or "local",
            "actors": [self._where_slot(s) for s in self.slots],
            "resources": {k: v for k, v in self.ray.cluster_resources().items() if k in ("CPU", "GPU", "memory")},
        }

    @staticmethod
    def _label(info: dict) -> str:
        gpus = info.get("gpus") or []
        return f"actor {info.get('index')} on {info.get('node')}" + (f" GPU {','.join(gpus)}" if gpus else " (CPU)")

    def _where_slot(self, slot: Slot) -> dict:
        info = self._slot_info(slot)
        return {**info, "label": self._label(info)}

    def where(self, job_id: str) -> dict:
        job = self.jobs.get(job_id)
        if job is None or job.slot is None:
            return {"state": "queued"}
        return {"state": "running", "actor": self._where_slot(job.slot)["label"], "helpers": [self._where_slot(h)["label"] for h in job.helpers], "retries": job.retries}

    # ---- jobs ----

    def submit(self, kernel: str, params_json: str, ctx_json: str, log_path: Optional[str]) -> str:
        self.counter += 1
        job_id = f"job-{self.counter}"
        ctx = json.loads(ctx_json or "{}")
        self.jobs[job_id] = Job(job_id, kernel, params_json, ctx_json, log_path, model_key(json.loads(params_json or "{}")), ctx.get("events_path"))
        self.order.append(job_id)
        self._place()
        return job_id

    def _place(self) -> None:
        """Place waiting jobs, in submission order, on idle actors."""
        for job_id in list(self.order):
            job = self.jobs[job_id]
            idle = [s for s in self.slots if s.idle]
            if not idle:
                return
            holding = [s for s in idle if job.model is not None and job.model in s.models]
            empty = [s for s in idle if not s.models]
            slot = (holding or empty or idle)[0]
            slot.job = job_id
            job.slot = slot
            job.helpers = []
            if job.kernel in FAN_OUT_KERNELS:
                rest = [s for s in idle if s is not slot]
                rest.sort(key=lambda s: (job.model not in s.models, s.index))
                for h in rest:
                    h.helping = job_id
                job.helpers = rest
            self.order.remove(job_id)
            helpers = [(h.handle, self._where_slot(h)["label"]) for h in job.helpers]
            job.ref = slot.handle.run_kernel.remote(job.kernel, job.params_json, job.ctx_json, job.log_path, helpers, self._where_slot(slot)["label"])
            where = self.where(job_id)
            helpers = f", helped by {', '.join(where['helpers'])}" if where["helpers"] else ""
            _append_event(job.events_path, {"type": "log", "level": "info", "message": f"running on {where['actor']}{helpers}"})

    def poll(self, job_id: str, wait_s: float) -> Optional[str]:
        job = self.jobs.get(job_id)
        if job is None:
            raise KeyError(f"unknown Ray job {job_id}")
        if job.envelope is not None:
            return self._finish(job)
        self._place()
        if job.ref is None:
            time.sleep(wait_s)
            return None
        ready, _ = self.ray.wait([job.ref], timeout=wait_s)
        if not ready:
            return None
        from ray import exceptions as rex

        try:
            job.envelope = self.ray.get(job.ref)
            if job.model is not None and job.slot is not None:
                if job.slot.gpus:
                    job.slot.models = {job.model}  # one resident model per GPU (models/resident.py)
                else:
                    job.slot.models.add(job.model)
        except rex.RayActorError as exc:
            return self._actor_died(job, exc)
        except (rex.RaySystemError, ConnectionError) as exc:
            job.envelope = _envelope_error("RayClusterLost", f"the Ray cluster at {self.address or 'local'} went away while running {job.kernel} ({exc}); `polyquant resume` finishes the run once it is back")
        except Exception as exc:  # noqa: BLE001 - anything else Ray raises is this job's failure
            job.envelope = _envelope_error(type(exc).__name__, f"Ray failed while running {job.kernel}: {exc}\n{traceback.format_exc()}")
        return self._finish(job)

    def _actor_died(self, job: Job, exc: BaseException) -> Optional[str]:
        dead = job.slot
        label = self._where_slot(dead)["label"] if dead is not None else "its actor"
        self._release(job, dead_slot=dead)
        if job.retries >= MAX_ACTOR_RETRIES:
            job.envelope = _envelope_error("ActorDiedError", f"{label} died while running {job.kernel}, {job.retries + 1} times in a row; the last: {str(exc).splitlines()[0]}")
            return self._finish(job)
        job.retries += 1
        _append_event(job.events_path, {"type": "log", "level": "warn", "message": f"{label} died while running {job.kernel} ({str(exc).splitlines()[0][:200]}); retrying on another actor from the last checkpoint (retry {job.retries} of {MAX_ACTOR_RETRIES})"})
        job.ref = None
        self.order.insert(0, job.id)
        self._place()
        return None

    def _release(self, job: Job, dead_slot: Optional[Slot] = None) -> None:
        """Free the job's actor and helpers; a helper that died (or the dead actor) is replaced."""
        for h in job.helpers:
            h.helping = None
            try:
                self.ray.get(h.handle.close_units.remote(), timeout=HELPER_CLOSE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - a helper that cannot answer is gone
                self._replace(h)
        job.helpers = []
        if job.slot is not None:
            job.slot.job = None
            if dead_slot is job.slot:
                self._replace(job.slot)
        job.slot = None

    def _replace(self, slot: Slot) -> None:
        try:
            self.ray.kill(slot.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead
            pass
        fresh = self._new_slot(slot.index)
        self.slots[self.slots.index(slot)] = fresh
        self.replaced += 1

    def _finish(self, job: Job) -> str:
        workers = 1 + len(job.helpers)  # held for the whole step: the budgets charge each one's time
        self._release(job)
        self.jobs.pop(job.id, None)
        self._place()
        envelope = json.loads(job.envelope or _envelope_error("EnvelopeError", "no envelope"))
        return json.dumps({**envelope, "workers": workers})

    def cancel(self, job_id: str) -> None:
        job = self.jobs.pop(job_id, None)
        if job is None:
            return
        if job.id in self.order:
            self.order.remove(job.id)
        slot = job.slot
        self._release(job, dead_slot=slot)

    def close(self) -> None:
        """Stop this pool's actors (Ray itself stays up)."""
        for s in self.slots:
            try:
                self.ray.kill(s.handle, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self.jobs.clear()
        self.order.clear()

    def shutdown(self) -> None:
        """Stop the actors, and the local Ray when this pool started it."""
        self.close()
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()
        if self.started_ray and self.session_dir:
            reap_session(self.session_dir)


def _session_dir(ray: Any) -> Optional[str]:
    try:
        from ray._private import worker as ray_worker

        return ray_worker._global_node.get_session_dir_path()  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a joined cluster's session is not ours to reap
        return None


def reap_session(session_dir: str) -> list[int]:
    """SIGKILL every process of a local Ray session that `ray.shutdown` left (its agents outlive a
    killed driver otherwise). Processes are found by the session folder in their command line."""
    killed = []
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if session_dir in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
            except OSError:
                pass
    return killed


def _on_sigterm(pool: Pool) -> None:
    """The runtime stops its worker with SIGTERM: the actors and a local Ray go with it."""

    def stop(signum: int, frame: Any) -> None:  # noqa: ARG001
        try:
            pool.shutdown()
        finally:
            os._exit(0)

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: the watchdog and reap_session still clean up
        log.warning("could not install the SIGTERM handler that stops the Ray actors")
