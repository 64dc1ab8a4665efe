"""People in the loop: the alert record, its lifecycle and the hooks that ask a person.

Lifecycle (``Alert.state``)::

    raised --(confident decision)--------------------------------> confirmed (by "policy")
    raised --(needs a person)--> awaiting --(answer "confirm")---> confirmed
                                          --(answer "dismiss")---> dismissed
                                          --(no answer by deadline)--> expired, escalated

An expired alert is never dropped silently: it is escalated (``escalated=True``, and the
tracker's ``on_escalate`` callback runs) so that someone with more authority sees it.

A *model-health* alert (``kind="health"``, raised by ``tinyfuse.apps.drift`` when a
modality's inputs drift away from the training data) has a lifecycle of its own and asks
nobody: ``raised --(the drift score falls back)--> cleared``.

Every answer a person gives can be kept as a labelled example for the next build:
:class:`FeedbackRecorder` (the format and the labels are ``tinyfuse.fusion.feedback``'s).

Hooks (:class:`ConfirmHook`) are told about an alert once (``request``) and then asked for the
answer (``answer``: ``"confirm"``, ``"dismiss"`` or ``None`` while nobody answered).
:class:`AutoConfirm`, :class:`CallbackConfirm` and :class:`ConsoleConfirm` answer at once;
:class:`QueueConfirm` and :class:`FileConfirm` are headless and answer whenever a person does;
``tinyfuse.apps.confirm_remote`` asks over MQTT or an HTTP webhook.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from tinyfuse.apps.policy import Decision
from tinyfuse.core.errors import DataError

log = logging.getLogger(__name__)

PAYLOAD_SCHEMA = 1  # the version of Alert.to_payload (apps/alert.schema.json)
STATES = ("raised", "awaiting", "confirmed", "dismissed", "expired", "cleared")
FINAL_STATES = ("confirmed", "dismissed", "expired", "cleared")
KINDS = ("detection", "health")
ANSWERS = ("confirm", "dismiss")


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert and where it is in its lifecycle.

    ``history`` is ``((state, time_s), ...)`` in order; ``revision`` counts state changes, so
    ``(alert_id, revision)`` identifies one published update (consumers de-duplicate on it).
    ``kind`` is ``"detection"`` (a class the policy decided on) or ``"health"`` (the model's
    inputs drifted; ``health`` holds the drift numbers, ``decision.label`` is
    ``"model_health"`` and ``decision.scores`` the drift score per modality).
    """

    alert_id: str
    app: str
    device: str
    bundle_hash: str
    decision: Decision
    state: str
    raised_s: float
    updated_s: float
    deadline_s: float | None = None
    answered_by: str = ""
    escalated: bool = False
    revision: int = 0
    history: tuple[tuple[str, float], ...] = ()
    kind: str = "detection"
    health: Mapping[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready MQTT payload (``apps/alert.schema.json``, version ``schema``):
        stream times in seconds and the wall-clock time of this update, ISO 8601 UTC."""
        d = self.decision
        extra = {} if self.kind == "detection" else {"kind": self.kind,
                                                     "health": dict(self.health or {})}
        return {
            "schema": PAYLOAD_SCHEMA, **extra,
            "alert_id": self.alert_id, "revision": self.revision, "app": self.app,
            "device": self.device, "bundle_hash": self.bundle_hash,
            "decision": {"label": d.label, "score": d.score, "time_s": d.time_s,
                         "hits": d.hits, "reason": d.reason, "missing": list(d.missing),
                         "needs_confirmation": d.needs_confirmation},
            "scores": dict(zip(d.classes, d.scores, strict=True)),
            "confirmation": {"state": self.state, "answered_by": self.answered_by,
                             "escalated": self.escalated, "deadline_s": self.deadline_s},
            "timestamps": {"raised_s": self.raised_s, "updated_s": self.updated_s,
                           "wall_utc": wall_utc(),
                           "history": [[state, t] for state, t in self.history]},
        }


def alert_from_payload(payload: dict[str, Any]) -> Alert:
    """The :class:`Alert` that :meth:`Alert.to_payload` wrote (``DataError`` if malformed)."""
    try:
        d, c, t = payload["decision"], payload["confirmation"], payload["timestamps"]
        classes = tuple(str(k) for k in payload["scores"])
        decision = Decision(label=str(d["label"]), score=float(d["score"]),
                            time_s=float(d["time_s"]), classes=classes,
                            scores=tuple(float(payload["scores"][k]) for k in classes),
                            hits=int(d["hits"]), needs_confirmation=bool(d["needs_confirmation"]),
                            reason=str(d["reason"]), missing=tuple(map(str, d["missing"])))
        return Alert(alert_id=str(payload["alert_id"]), app=str(payload["app"]),
                     device=str(payload["device"]), bundle_hash=str(payload["bundle_hash"]),
                     decision=decision, state=str(c["state"]),
                     raised_s=float(t["raised_s"]), updated_s=float(t["updated_s"]),
                     deadline_s=None if c["deadline_s"] is None else float(c["deadline_s"]),
                     answered_by=str(c["answered_by"]), escalated=bool(c["escalated"]),
                     revision=int(payload["revision"]),
                     history=tuple((str(s), float(v)) for s, v in t["history"]),
                     kind=str(payload.get("kind", "detection")),
                     health=dict(payload["health"]) if "health" in payload else None)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"alert payload: missing or malformed field ({exc})") from None


def _move(alert: Alert, state: str, now_s: float, **changes: Any) -> Alert:
    if alert.state in FINAL_STATES:
        raise DataError(f"alert {alert.alert_id}: cannot go from final state {alert.state!r} "
                        f"to {state!r}")
    return replace(alert, state=state, updated_s=float(now_s), revision=alert.revision + 1,
                   history=(*alert.history, (state, float(now_s))), **changes)


def wall_utc() -> str:
    """Now, ISO 8601 in UTC to the millisecond (``2026-12-02T01:23:45.678Z``)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def incident_id(app: str, device: str, label: str, time_s: float) -> str:
    """A stable alert id: the same incident (app, device, class, stream time it started) gets
    the same id in every run, so a restarted run re-sends and never re-numbers."""
    digest = hashlib.sha256(f"{app}\0{device}\0{label}\0{time_s:.3f}".encode()).hexdigest()
    return f"{app}-{digest[:12]}"


def raise_alert(decision: Decision, *, alert_id: str, app: str, device: str,
                bundle_hash: str) -> Alert:
    """A new alert in state ``raised`` at the decision's time."""
    now_s = decision.time_s
    return Alert(alert_id=alert_id, app=app, device=device, bundle_hash=bundle_hash,
                 decision=decision, state="raised", raised_s=now_s, updated_s=now_s,
                 history=(("raised", now_s),))


def apply_answer(alert: Alert, answer: str, *, now_s: float, by: str) -> Alert:
    """``awaiting`` (or ``raised``) -> ``confirmed`` / ``dismissed``."""
    if answer not in ANSWERS:
        raise DataError(f"alert {alert.alert_id}: answer {answer!r} is not one of {ANSWERS}")
    return _move(alert, "confirmed" if answer == "confirm" else "dismissed", now_s,
                 answered_by=by)


def expire(alert: Alert, *, now_s: float, escalate: bool = True) -> Alert:
    """``awaiting`` -> ``expired`` (escalated unless ``escalate`` is False)."""
    return _move(alert, "expired", now_s, answered_by="timeout", escalated=escalate)


def clear(alert: Alert, *, now_s: float, health: Mapping[str, Any] | None = None) -> Alert:
    """A health alert ``raised`` -> ``cleared`` (its inputs came back), with the drift
    numbers of that moment."""
    if alert.kind != "health":
        raise DataError(f"alert {alert.alert_id}: only a health alert clears")
    return _move(alert, "cleared", now_s, answered_by="drift monitor",
                 health=alert.health if health is None else health)


# --- hooks --------------------------------------------------------------------------------

class ConfirmHook(Protocol):
    """Asks a person about an alert. ``name`` is recorded as ``answered_by``.

    ``request`` may be called again for an alert already asked about (a restarted tracker
    resumes what was waiting) and must then be harmless; ``done`` is called once the alert no
    longer waits (answered or expired), so the hook can withdraw the question.
    """

    name: str

    def request(self, alert: Alert) -> None: ...

    def answer(self, alert: Alert) -> str | None: ...

    def done(self, alert: Alert) -> None: ...


class _Hook:
    """Defaults of the optional parts of a hook."""

    def done(self, alert: Alert) -> None:
        return None


def question(alert: Alert) -> str:
    """What a person is asked about ``alert`` (one line)."""
    d = alert.decision
    return (f"ALERT {alert.alert_id}: {d.label} (score {d.score:.2f}) at t={d.time_s:.1f} s; "
            f"{d.reason}")


class AutoConfirm(_Hook):
    """Answers every request at once with a fixed answer (default ``"confirm"``).

    With ``record`` (a file path) every request is appended to it as one JSON line
    (``alert_id``, ``question``, ``answer``, ``payload``): what a person would have been asked.
    """

    def __init__(self, answer: str = "confirm", *, record: str | Path | None = None) -> None:
        if answer not in ANSWERS:
            raise DataError(f"AutoConfirm: answer {answer!r} is not one of {ANSWERS}")
        self.name = f"auto-{answer}"
        self._answer = answer
        self.record = Path(record) if record is not None else None
        if self.record is not None:
            self.record.parent.mkdir(parents=True, exist_ok=True)

    def request(self, alert: Alert) -> None:
        log.debug("auto-%s alert %s", self._answer, alert.alert_id)
        if self.record is None:
            return
        line = {"alert_id": alert.alert_id, "question": question(alert),
                "answer": self._answer, "payload": alert.to_payload()}
        try:
            with self.record.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps(line, sort_keys=True) + "\n")
        except OSError as exc:
            raise DataError(f"{self.record}: cannot record the question: {exc}") from exc

    def answer(self, alert: Alert) -> str | None:
        return self._answer


class CallbackConfirm(_Hook):
    """Calls ``callback(alert) -> "confirm" | "dismiss" | None`` (None: ask again later)."""

    def __init__(self, callback: Callable[[Alert], str | None], *,
                 name: str = "callback") -> None:
        self.name = name
        self._callback = callback

    def request(self, alert: Alert) -> None:
        return None

    def answer(self, alert: Alert) -> str | None:
        return self._callback(alert)


class ConsoleConfirm(_Hook):
    """Asks on a terminal: prints the alert to ``out`` and reads ``y``/``n`` from ``stdin``.

    End of input (or an unreadable answer after ``attempts`` tries) gives no answer, so the
    alert expires and escalates rather than being dismissed by accident.
    """

    def __init__(self, *, stdin: IO[str], out: IO[str], attempts: int = 3) -> None:
        self.name = "console"
        self._in, self._out, self._attempts = stdin, out, attempts

    def request(self, alert: Alert) -> None:
        self._out.write(f"\n{question(alert)}\n")
        self._out.flush()

    def answer(self, alert: Alert) -> str | None:
        for _ in range(self._attempts):
            self._out.write("  confirm? [y]es / [n]o: ")
            self._out.flush()
            line = self._in.readline()
            if not line:
                return None
            reply = line.strip().lower()
            if reply in ("y", "yes"):
                return "confirm"
            if reply in ("n", "no"):
                return "dismiss"
        return None


class QueueConfirm(_Hook):
    """Headless, in process: requests go to ``requests``; answers are read from ``answers`` as
    ``(alert_id, "confirm" | "dismiss")`` pairs put there by any thread (a web handler, a
    chat bot). Answers for other alerts are kept until asked for."""

    def __init__(self) -> None:
        self.name = "queue"
        self.requests: queue.Queue[Alert] = queue.Queue()
        self.answers: queue.Queue[tuple[str, str]] = queue.Queue()
        self._seen: dict[str, str] = {}

    def request(self, alert: Alert) -> None:
        self.requests.put(alert)

    def answer(self, alert: Alert) -> str | None:
        while True:
            try:
                alert_id, reply = self.answers.get_nowait()
            except queue.Empty:
                break
            self._seen[alert_id] = reply
        return self._seen.pop(alert.alert_id, None)


class FileConfirm(_Hook):
    """Headless, across processes: writes ``<folder>/pending/<alert_id>.json`` (the payload)
    and reads the answer from ``<folder>/answers/<alert_id>`` (a file whose text is
    ``confirm`` or ``dismiss``). Answered and expired requests are removed from ``pending``."""

    def __init__(self, folder: str | Path) -> None:
        self.name = "file"
        self.folder = Path(folder)
        for part in ("pending", "answers"):
            (self.folder / part).mkdir(parents=True, exist_ok=True)

    def request(self, alert: Alert) -> None:
        target = self.folder / "pending" / f"{alert.alert_id}.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(alert.to_payload(), indent=2))
        os.replace(temporary, target)

    def answer(self, alert: Alert) -> str | None:
        path = self.folder / "answers" / alert.alert_id
        if not path.exists():
            return None
        reply = path.read_text().strip().lower()
        if reply not in ANSWERS:
            log.warning("%s: answer %r is not one of %s; ignored", path, reply, ANSWERS)
            return None
        return reply

    def done(self, alert: Alert) -> None:
        (self.folder / "pending" / f"{alert.alert_id}.json").unlink(missing_ok=True)


# --- the tracker --------------------------------------------------------------------------

class Confirmations:
    """Runs the lifecycle: confident alerts pass, the others wait for ``hook`` until
    ``timeout_s`` (stream time) and then expire with escalation.

    ``submit`` and ``poll`` return every alert whose state changed, in order, so the caller can
    publish each update. With ``state_file`` the waiting alerts survive a restart: they are
    written there (atomically) on every change and read back by the next tracker on the same
    file, which goes on polling their answers; an alert submitted again with the id of one
    that waits (the same incident, replayed) is not asked twice.
    """

    def __init__(self, hook: ConfirmHook, *, timeout_s: float = 60.0, escalate: bool = True,
                 on_escalate: Callable[[Alert], None] | None = None,
                 state_file: str | Path | None = None) -> None:
        if not timeout_s > 0:
            raise DataError(f"Confirmations: timeout_s must be > 0, got {timeout_s}")
        self.hook = hook
        self.timeout_s = float(timeout_s)
        self.escalate = escalate
        self._on_escalate = on_escalate
        self.state_file = None if state_file is None else Path(state_file)
        self._waiting: dict[str, Alert] = self._load()

    def _load(self) -> dict[str, Alert]:
        if self.state_file is None or not self.state_file.exists():
            return {}
        try:
            records = json.loads(self.state_file.read_text())
            alerts = [alert_from_payload(record) for record in records]
        except (OSError, ValueError, TypeError, DataError) as exc:
            raise DataError(f"{self.state_file}: unreadable confirmation state ({exc}); "
                            f"move it away to start afresh") from None
        if alerts:
            log.info("%s: %d alert(s) still waiting for an answer; asking again",
                     self.state_file, len(alerts))
        for alert in alerts:  # the process may have died between saving and asking
            self.hook.request(alert)
        return {alert.alert_id: alert for alert in alerts}

    def _save(self) -> None:
        if self.state_file is None:
            return
        from tinyfuse.core.bundle import atomic_write

        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps([a.to_payload() for a in self._waiting.values()], indent=1)
        atomic_write(self.state_file, text.encode())

    @property
    def waiting(self) -> tuple[Alert, ...]:
        return tuple(self._waiting.values())

    def submit(self, alert: Alert, *, now_s: float) -> list[Alert]:
        """A freshly raised alert: confirm it by policy, or ask ``hook`` (``confirm.ask``)."""
        if alert.alert_id in self._waiting:  # the same incident again (a restarted run)
            return self._check(self._waiting[alert.alert_id], now_s)
        if not alert.decision.needs_confirmation:
            return [_move(alert, "confirmed", now_s, answered_by="policy")]
        waiting = _move(alert, "awaiting", now_s, deadline_s=now_s + self.timeout_s)
        self.hook.request(waiting)
        self._waiting[waiting.alert_id] = waiting
        self._save()
        return [waiting, *self._check(waiting, now_s)]

    ask = submit

    def poll(self, *, now_s: float) -> list[Alert]:
        """Collect answers that came in and expire what waited past its deadline."""
        changed: list[Alert] = []
        for alert in list(self._waiting.values()):
            changed.extend(self._check(alert, now_s))
        return changed

    def expire_all(self, *, now_s: float) -> list[Alert]:
        """End of stream: every alert still waiting expires (and escalates)."""
        changed = [self._expire(alert, now_s) for alert in list(self._waiting.values())]
        return changed

    def _check(self, alert: Alert, now_s: float) -> list[Alert]:
        reply = self.hook.answer(alert)
        if reply is not None:
            del self._waiting[alert.alert_id]
            self._save()
            self._withdraw(alert)
            return [apply_answer(alert, reply, now_s=now_s, by=self.hook.name)]
        if alert.deadline_s is not None and now_s >= alert.deadline_s:
            return [self._expire(alert, now_s)]
        return []

    def _withdraw(self, alert: Alert) -> None:
        done = getattr(self.hook, "done", None)  # optional for a hook written elsewhere
        if done is not None:
            done(alert)

    def _expire(self, alert: Alert, now_s: float) -> Alert:
        del self._waiting[alert.alert_id]
        self._save()
        self._withdraw(alert)
        done = expire(alert, now_s=now_s, escalate=self.escalate)
        if done.escalated:
            log.warning("alert %s (%s) was not answered in %.0f s: escalated", done.alert_id,
                        done.decision.label, self.timeout_s)
            if self._on_escalate is not None:
                self._on_escalate(done)
        return done


# --- feedback: people's answers as labelled examples ---------------------------------------

NOT_A_PERSON = ("policy", "timeout")  # and AutoConfirm's "auto-..." answers


def answered_by_person(alert: Alert) -> bool:
    """Whether a person (or a hook acting for one) confirmed or dismissed ``alert``."""
    return (alert.kind == "detection" and alert.state in ("confirmed", "dismissed")
            and alert.answered_by not in NOT_A_PERSON
            and not alert.answered_by.startswith("auto-"))


class FeedbackRecorder:
    """Keeps the window of every alert a person answered, labelled, in ``folder`` (the format
    of ``tinyfuse.fusion.feedback``; ``tinyfuse build --feedback DIR`` reads it).

    :meth:`hold` writes the window of an alert that waits for a person to
    ``folder/pending/<alert_id>.npz``; :meth:`settle` moves it to ``folder/<alert_id>.npz``
    with its label once a person confirmed (the alert's class) or dismissed it (the normal
    class: of ``quiet_classes``, the classes that do not alert, the one scored highest), and
    deletes it when the alert expired. A waiting window survives a restart, so an answer that
    arrives after one is kept too.
    """

    def __init__(self, folder: str | Path, *, quiet_classes: Sequence[str],
                 modalities: Sequence[str]) -> None:
        self.folder = Path(folder)
        self.quiet_classes = tuple(quiet_classes)
        self.modalities = tuple(modalities)
        self.written: list[Path] = []
        try:
            (self.folder / "pending").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{self.folder}: cannot create the feedback folder: {exc}") from None

    def _pending(self, alert: Alert) -> Path:
        return self.folder / "pending" / f"{alert.alert_id}.npz"

    def hold(self, alert: Alert, *, sample: Any, features: Mapping[str, Any],
             int8: Mapping[str, Any]) -> None:
        """Keep the window of ``alert`` (now waiting for a person) until it is answered;
        ``features`` (standardised) and ``int8`` by modality name (absent ones left out)."""
        from tinyfuse.fusion.feedback import write_example

        d = alert.decision
        meta = {"app": alert.app, "bundle_hash": alert.bundle_hash, "alert_id": alert.alert_id,
                "device": alert.device, "alert_label": d.label, "time_s": d.time_s,
                "classes": list(d.classes), "scores": list(d.scores),
                "modalities": list(self.modalities), "missing": list(d.missing),
                "source": str(getattr(sample, "source", "")),
                "group": str(getattr(sample, "group", "")),
                "sample_meta": [list(pair) for pair in getattr(sample, "meta", ())]}
        raw = {name: value for name, value in sample.data.items() if name in self.modalities}
        present = {name for name in self.modalities if features.get(name) is not None}
        write_example(self._pending(alert), meta=meta, raw=raw,
                      features={n: features[n] for n in present},
                      int8={n: int8[n] for n in present})

    def settle(self, alert: Alert) -> Path | None:
        """``alert`` reached a final state: keep its labelled example (a person answered) or
        drop its window; returns the example's path, or ``None``."""
        from tinyfuse.fusion.feedback import dismissal_label, read_example, write_example

        pending = self._pending(alert)
        if alert.kind != "detection" or alert.state not in FINAL_STATES or \
                not pending.exists():
            return None
        try:
            if not answered_by_person(alert):
                return None
            held = read_example(pending)
            d = alert.decision
            confirmed = alert.state == "confirmed"
            label = d.label if confirmed else dismissal_label(
                d.label, classes=d.classes, quiet=self.quiet_classes, scores=d.scores)
            rule = ("confirmed: the alert's class" if confirmed else
                    "dismissed: the normal class scored highest" if label else
                    "dismissed: no class that does not alert, no label")
            meta = {**held.meta, "answer": "confirm" if confirmed else "dismiss",
                    "label": label, "label_rule": rule, "answered_by": alert.answered_by,
                    "answered_s": alert.updated_s, "wall_utc": wall_utc()}
            meta.pop("format", None)
            path = write_example(self.folder / f"{alert.alert_id}.npz", meta=meta,
                                 raw=held.raw, features=held.features, int8=held.int8)
            self.written.append(path)
            log.info("feedback: %s %s kept as %r in %s", alert.alert_id, alert.state,
                     label, path)
            return path
        except DataError as exc:
            log.warning("feedback: %s; alert %s not kept", exc, alert.alert_id)
            return None
        finally:
            pending.unlink(missing_ok=True)
