"""A kernel's log records and warnings reach the run's events (the dashboard's log tail)."""

import json
import logging
import warnings

from polyquant.context import KernelContext
from polyquant.log_events import forwarded_logs


def _events(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_own_info_and_others_warnings_become_log_events(tmp_path):
    events = tmp_path / "events.jsonl"
    ctx = KernelContext(events_path=str(events))
    with forwarded_logs(ctx):
        logging.getLogger("polyquant.models").info("loaded %s on %s", "fixture:tiny-llama", "cpu")
        logging.getLogger("transformers.tokenization").info("chatter stays in the worker log")
        logging.getLogger("transformers.tokenization").warning("no pad token")
        logging.getLogger("polyquant").info("kernel x start")  # the bridge's own line
        logging.getLogger("polyquant.kernels.x").error("the step failed here")
        warnings.warn("torch_dtype is deprecated", DeprecationWarning, stacklevel=1)
    logging.getLogger("polyquant.models").info("after the kernel: not forwarded")
    got = [(e["level"], e["message"]) for e in _events(events)]
    assert got == [
        ("info", "loaded fixture:tiny-llama on cpu"),
        ("warn", "no pad token"),
        ("error", "the step failed here"),
        ("warn", "DeprecationWarning: torch_dtype is deprecated"),
    ]
    assert all(e["type"] == "log" for e in _events(events))


def test_levels_are_restored(tmp_path):
    own = logging.getLogger("polyquant")
    before = own.level
    with forwarded_logs(KernelContext(events_path=str(tmp_path / "e.jsonl"))):
        pass
    assert own.level == before
    assert not any(type(h).__name__ == "_EventHandler" for h in logging.getLogger().handlers)


def test_transformers_warnings_are_forwarded_once_whether_or_not_its_logger_propagates(tmp_path):
    from transformers.utils import logging as hf_logging

    hf_logging.get_logger("transformers.modeling_utils")  # configures the library's root logger
    # transformers sets propagate = False on its root logger (another test may have set it back): one event either way
    events = tmp_path / "events.jsonl"
    with forwarded_logs(KernelContext(events_path=str(events))):
        hf_logging.get_logger("transformers.modeling_utils").warning("some weights were not used")
    assert [(e["level"], e["message"]) for e in _events(events)] == [("warn", "some weights were not used")]


def test_forwarded_once_when_transformers_does_not_propagate(tmp_path):
    hf = logging.getLogger("transformers")
    before = hf.propagate
    hf.propagate = False
    try:
        events = tmp_path / "events.jsonl"
        with forwarded_logs(KernelContext(events_path=str(events))):
            logging.getLogger("transformers.x").warning("kept")
        assert [e["message"] for e in _events(events)] == ["kept"]
    finally:
        hf.propagate = before
