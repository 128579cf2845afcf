"""The serving-history replay as a unit: events in, the state after each one out, checked
against the rules written down here (TF Serving serves the highest available version unless a
rollback pins one; an unpin serves the newest again; failed changes change nothing)."""

from __future__ import annotations

from lineage.query import ServingEvent, replay, replay_steps
from lineage.records import Execution


def ev(t: float, action: str, version=None, label=None, state="COMPLETE", eid=None) -> ServingEvent:
    return ServingEvent(time=t, action=action, version=version, label=label,
                        execution=Execution(id=eid or int(t), type=action.capitalize(), state=state), state=state)


HISTORY = [
    ev(10, "push", 1),
    ev(20, "push", 2),
    ev(30, "rollback", 1, "stable"),
    ev(40, "push", 3),                      # pinned: 3 is pushed, 1 keeps serving
    ev(50, "rollback", 2, "stable", state="FAILED"),   # a failed change changes nothing
    ev(60, "promote", 3, "canary"),
    ev(70, "unpin"),
]


def test_state_after_each_effective_event():
    steps = list(replay_steps("m", HISTORY))
    assert [e.time for e, _ in steps] == [10, 20, 30, 40, 60, 70]
    # the promote loads 3 beside the pinned 1: unlabelled requests get the highest (TF Serving)
    assert [s.version for _, s in steps] == [1, 2, 1, 1, 3, 3]
    assert [s.pinned for _, s in steps] == [False, False, True, True, True, False]
    assert [s.versions for _, s in steps][-1] == (1, 2, 3)
    assert steps[4][1].labels == {"stable": 1, "canary": 3}
    assert steps[5][1].labels == {"canary": 3}   # an unpin keeps only the labels on the newest


def test_since_moves_only_when_the_serving_version_changes():
    steps = list(replay_steps("m", HISTORY))
    assert [s.since for _, s in steps] == [10, 20, 30, 30, 60, 60]
    assert steps[3][1].event.time == 30  # the push of 3 under a pin is not what changed serving


def test_replay_until_a_time():
    assert replay("m", HISTORY, until=5).version is None
    assert replay("m", HISTORY, until=20).version == 2
    assert replay("m", HISTORY, until=45).version == 1
    assert replay("m", HISTORY, until=50).version == 1   # the failed rollback to 2 at 50
    assert replay("m", HISTORY).version == 3


def test_rollback_drops_the_labels_on_other_versions():
    history = [ev(1, "push", 1), ev(2, "push", 2), ev(3, "promote", 2, "canary"), ev(4, "rollback", 1)]
    state = replay("m", history)
    assert (state.version, state.pinned, state.labels) == (1, True, {"stable": 1})


def test_empty_history():
    state = replay("m", [])
    assert (state.version, state.pinned, state.labels, state.versions) == (None, False, {}, ())
