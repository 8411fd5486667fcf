import json

from polyquant import api


def test_echo_round_trips_params():
    out = json.loads(api.call("test-echo", json.dumps({"message": "hi", "values": [1, 2]})))
    assert out["ok"] is True
    assert out["result"]["echo"] == {"message": "hi", "values": [1, 2]}


def test_error_envelope_names_type_and_message():
    out = json.loads(api.call("test-fail", json.dumps({"message": "bad value 7"})))
    assert out["ok"] is False
    assert out["error"]["type"] == "PolyquantError"
    assert out["error"]["message"] == "bad value 7"
    assert "Traceback" in out["error"]["traceback"]
    assert out["error"]["retryable"] is False


def test_oom_is_retryable():
    out = json.loads(api.call("test-fail", json.dumps({"error": "oom"})))
    assert out["error"]["type"] == "OutOfMemoryError"
    assert out["error"]["retryable"] is True


def test_unknown_kernel_lists_known_ones():
    out = json.loads(api.call("nope", "{}"))
    assert out["ok"] is False
    assert "unknown kernel 'nope'" in out["error"]["message"]
    assert "test-echo" in out["error"]["message"]


def test_non_finite_numbers_become_null():
    from polyquant.kernels.contract import json_safe

    assert json_safe({"x": float("nan"), "y": [float("inf"), 1.5]}) == {"x": None, "y": [None, 1.5]}


def test_count_kernel_checkpoints_and_resumes(tmp_path):
    ctx = {"checkpoint_path": str(tmp_path / "ck.json"), "events_path": str(tmp_path / "ev.jsonl")}
    first = json.loads(api.call("test-count", json.dumps({"to": 4, "tick": 0}), json.dumps(ctx)))
    assert first["result"]["values"] == [0, 1, 4, 9]
    saved = json.loads((tmp_path / "ck.json").read_text())
    assert saved == {"i": 4, "values": [0, 1, 4, 9]}
    # resuming from a half-way checkpoint continues where it left off
    (tmp_path / "ck.json").write_text(json.dumps({"i": 2, "values": [0, 1]}))
    resumed = json.loads(api.call("test-count", json.dumps({"to": 4, "tick": 0}), json.dumps(ctx)))
    assert resumed["result"] == {"values": [0, 1, 4, 9], "resumed_from": 2}
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert any(e["type"] == "checkpoint" for e in events)
