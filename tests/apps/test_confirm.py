"""apps.confirm: the lifecycle and every hook."""

from __future__ import annotations

import io
import json

import pytest

from tinyfuse.apps.confirm import (
    AutoConfirm,
    CallbackConfirm,
    Confirmations,
    ConsoleConfirm,
    FileConfirm,
    QueueConfirm,
    apply_answer,
    raise_alert,
)
from tinyfuse.apps.policy import Decision
from tinyfuse.core.errors import DataError


def alert(index: int = 0, *, needs: bool = True, time_s: float = 10.0):
    decision = Decision(label="lying", score=0.62, time_s=time_s, classes=("standing", "lying"),
                        scores=(0.38, 0.62), hits=1, needs_confirmation=needs,
                        reason="uncertain" if needs else "confident")
    return raise_alert(decision, alert_id=f"p{index}", app="posture", device="room1",
                       bundle_hash="abc")


def states(alerts):
    return [a.state for a in alerts]


def test_confident_alert_is_confirmed_by_policy_without_asking():
    asked = []
    tracker = Confirmations(CallbackConfirm(lambda a: asked.append(a) or "dismiss"))
    [done] = tracker.submit(alert(needs=False), now_s=10.0)
    assert (done.state, done.answered_by, asked) == ("confirmed", "policy", [])
    assert [s for s, _ in done.history] == ["raised", "confirmed"]


def test_auto_and_callback_hooks_answer_at_once():
    confirmed = Confirmations(AutoConfirm()).submit(alert(), now_s=10.0)
    assert states(confirmed) == ["awaiting", "confirmed"]
    assert confirmed[-1].answered_by == "auto-confirm"
    dismissed = Confirmations(CallbackConfirm(lambda a: "dismiss", name="ops")).submit(
        alert(), now_s=10.0)
    assert states(dismissed) == ["awaiting", "dismissed"]
    assert dismissed[-1].answered_by == "ops" and dismissed[-1].revision == 2


def test_unanswered_alert_expires_and_escalates_at_its_deadline():
    escalated = []
    tracker = Confirmations(QueueConfirm(), timeout_s=30.0, on_escalate=escalated.append)
    [waiting] = tracker.submit(alert(), now_s=10.0)
    assert waiting.state == "awaiting" and waiting.deadline_s == 40.0
    assert tracker.poll(now_s=39.9) == []
    [expired] = tracker.poll(now_s=40.0)
    assert (expired.state, expired.escalated, expired.answered_by) == (
        "expired", True, "timeout")
    assert escalated == [expired] and tracker.waiting == ()


def test_queue_hook_takes_answers_from_any_order():
    hook = QueueConfirm()
    tracker = Confirmations(hook, timeout_s=60.0)
    tracker.submit(alert(1), now_s=0.0)
    tracker.submit(alert(2), now_s=1.0)
    assert [hook.requests.get_nowait().alert_id for _ in range(2)] == ["p1", "p2"]
    hook.answers.put(("p2", "dismiss"))
    hook.answers.put(("p1", "confirm"))
    changed = tracker.poll(now_s=2.0)
    assert {(a.alert_id, a.state) for a in changed} == {("p1", "confirmed"),
                                                        ("p2", "dismissed")}


def test_file_hook_round_trip(tmp_path):
    hook = FileConfirm(tmp_path / "confirm")
    tracker = Confirmations(hook, timeout_s=60.0)
    tracker.submit(alert(7), now_s=0.0)
    pending = tmp_path / "confirm" / "pending" / "p7.json"
    assert json.loads(pending.read_text())["confirmation"]["state"] == "awaiting"
    assert tracker.poll(now_s=1.0) == []
    (tmp_path / "confirm" / "answers" / "p7").write_text("maybe\n")
    assert tracker.poll(now_s=2.0) == []  # an unreadable answer is ignored, not guessed
    (tmp_path / "confirm" / "answers" / "p7").write_text("confirm\n")
    [done] = tracker.poll(now_s=3.0)
    assert (done.state, done.answered_by) == ("confirmed", "file")
    assert not pending.exists()


def test_console_hook_reads_yes_no_and_eof_means_no_answer():
    out = io.StringIO()
    hook = ConsoleConfirm(stdin=io.StringIO("what\ny\n"), out=out)
    [_, done] = Confirmations(hook).submit(alert(), now_s=0.0)
    assert done.state == "confirmed" and "ALERT p0: lying" in out.getvalue()
    no = ConsoleConfirm(stdin=io.StringIO("no\n"), out=io.StringIO())
    assert Confirmations(no).submit(alert(), now_s=0.0)[-1].state == "dismissed"
    silent = Confirmations(ConsoleConfirm(stdin=io.StringIO(""), out=io.StringIO()),
                           timeout_s=5.0)
    assert states(silent.submit(alert(), now_s=0.0)) == ["awaiting"]
    assert states(silent.expire_all(now_s=1.0)) == ["expired"]


def test_final_states_are_final_and_answers_are_checked():
    done = apply_answer(alert(), "confirm", now_s=11.0, by="x")
    with pytest.raises(DataError, match="final state 'confirmed'"):
        apply_answer(done, "dismiss", now_s=12.0, by="y")
    with pytest.raises(DataError, match="'maybe' is not one of"):
        apply_answer(alert(), "maybe", now_s=11.0, by="x")
    with pytest.raises(DataError, match="timeout_s"):
        Confirmations(AutoConfirm(), timeout_s=0.0)


def test_payload_carries_the_lifecycle():
    payload = Confirmations(AutoConfirm("dismiss")).submit(alert(), now_s=12.0)[-1].to_payload()
    assert payload["confirmation"]["state"] == "dismissed"
    assert payload["timestamps"]["history"] == [["raised", 10.0], ["awaiting", 12.0],
                                                ["dismissed", 12.0]]
    assert payload["scores"] == {"standing": 0.38, "lying": 0.62}
    json.dumps(payload)  # JSON-ready


def test_auto_confirm_records_what_a_person_would_be_asked(tmp_path):
    record = tmp_path / "confirm" / "asked.jsonl"
    tracker = Confirmations(AutoConfirm(record=record))
    tracker.submit(alert(0, needs=False), now_s=10.0)  # confident: nobody is asked
    assert not record.exists()
    tracker.submit(alert(1), now_s=11.0)
    tracker.submit(alert(2), now_s=12.0)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["alert_id"] for line in lines] == ["p1", "p2"]
    assert lines[0]["question"] == ("ALERT p1: lying (score 0.62) at t=10.0 s; uncertain")
    assert lines[0]["answer"] == "confirm"
    assert lines[0]["payload"]["confirmation"]["state"] == "awaiting"


def test_waiting_alerts_survive_a_restart(tmp_path):
    from tinyfuse.apps.confirm import alert_from_payload

    state = tmp_path / "confirm" / "waiting.json"
    hook = FileConfirm(tmp_path / "confirm")
    first = Confirmations(hook, timeout_s=60.0, state_file=state)
    for index in range(3):
        first.submit(alert(index), now_s=10.0)
    assert len(json.loads(state.read_text())) == 3
    del first  # killed: nothing else is written

    second = Confirmations(FileConfirm(tmp_path / "confirm"), timeout_s=60.0, state_file=state)
    assert sorted(a.alert_id for a in second.waiting) == ["p0", "p1", "p2"]
    restored = {a.alert_id: a for a in second.waiting}["p1"]
    assert alert_from_payload(restored.to_payload()) == restored  # the round trip is exact
    pending = sorted((tmp_path / "confirm" / "pending").iterdir())
    assert len(second.submit(alert(1), now_s=11.0)) == 0  # the same incident: not asked again
    assert sorted((tmp_path / "confirm" / "pending").iterdir()) == pending
    (tmp_path / "confirm" / "answers" / "p0").write_text("confirm\n")
    [answered] = second.poll(now_s=12.0)
    assert (answered.alert_id, answered.state, answered.answered_by) == ("p0", "confirmed",
                                                                         "file")
    assert len(json.loads(state.read_text())) == 2
    assert states(second.expire_all(now_s=13.0)) == ["expired", "expired"]
    assert json.loads(state.read_text()) == []
    assert list((tmp_path / "confirm" / "pending").iterdir()) == []  # no stale question


def test_a_resumed_alert_is_asked_again_when_its_question_was_lost(tmp_path):
    state = tmp_path / "confirm" / "waiting.json"
    first = Confirmations(FileConfirm(tmp_path / "confirm"), timeout_s=60.0, state_file=state)
    first.submit(alert(4), now_s=0.0)
    (tmp_path / "confirm" / "pending" / "p4.json").unlink()  # died before the question was out
    Confirmations(FileConfirm(tmp_path / "confirm"), timeout_s=60.0, state_file=state)
    assert (tmp_path / "confirm" / "pending" / "p4.json").exists()


def test_a_corrupt_confirmation_state_is_one_clear_error(tmp_path):
    state = tmp_path / "waiting.json"
    state.write_text('[{"alert_id": 3}]')
    with pytest.raises(DataError, match=r"waiting.json: unreadable confirmation state"):
        Confirmations(AutoConfirm(), state_file=state)
