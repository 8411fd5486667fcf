"""Executors: where a step's kernel runs (DESIGN §5, "Executors").

- `local` (the default): the kernel runs in the one pythonia worker, as `api.call` does.
- `ray`: the pythonia worker is a Ray driver (`pool.py`). Each step runs on a Ray actor that keeps
  its models resident (`actor.py`): one actor per GPU through Ray's `num_gpus`, CPU actors where
  there is none. Steps on the same model go to the actor that already holds it. A kernel whose work
  splits into independent units (a layer sweep's configurations) gets the idle actors as helpers
  and fans the units out over them (`fanout.py`, `units.py`); results are merged by unit id, so the
  outputs equal the local executor's. polyquant schedules nothing beyond this: Ray places the
  actors, and the engine (TypeScript) decides which steps may run at once.

Ray is an extra (`POLYQUANT_EXTRAS=ray`, or `node scripts/setup.mjs --extras ray`): nothing here is
imported by the local executor.
"""
