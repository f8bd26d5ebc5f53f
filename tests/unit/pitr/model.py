"""A simple model of a keyed workload for the point-in-time tests: scripted events with
non-decreasing whole-second times, their log records, and a fuzzy base."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.items import Item, KeySchema

SCHEMA = KeySchema("pk", "N")
SPELLINGS = ("{k}", "{k}.0", "{k}0E-1", "0{k}.000")


@dataclass(frozen=True)
class Event:
    """One scripted write: ``value`` None is a delete."""

    key: int
    value: int | None
    time: int
    spelling: int


def key_of(event: Event) -> dict[str, dict[str, str]]:
    return {"pk": {"N": SPELLINGS[event.spelling].format(k=event.key + 1)}}


def item_of(event: Event) -> Item:
    assert event.value is not None
    return {**key_of(event), "v": {"N": str(event.value)}}


def record_of(seq: int, event: Event) -> ChangeRecord:
    removed = event.value is None
    return ChangeRecord(
        event_id=f"e{seq}",
        sequence_number=str(1000 + seq),
        # Sub-second stream times in microseconds, as the Streams API gives them.
        time=str(event.time * 1_000_000 + (seq * 7919) % 1_000_000),
        time_unit="us",
        event_name="REMOVE" if removed else "MODIFY",
        keys=key_of(event),
        new_image=None if removed else item_of(event),
    )


def model_at(events: list[Event], upto: int) -> dict[int, Item]:
    state: dict[int, Item] = {}
    for event in events[:upto]:
        if event.value is None:
            state.pop(event.key, None)
        else:
            state[event.key] = item_of(event)
    return state


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[Event], int, list[Item], list[ChangeRecord], int]:
    """Events with non-decreasing times, a time T, a fuzzy base (each key as of its own
    prefix, all at or before T, none before the log starts) and the log from ``lo`` on."""
    steps = draw(st.lists(st.integers(0, 2), min_size=0, max_size=25))
    events: list[Event] = []
    now = 100
    for step in steps:
        now += step
        value = draw(st.one_of(st.none(), st.integers(-5, 5)))
        events.append(Event(draw(st.integers(0, 3)), value, now, draw(st.integers(0, 3))))
    to_time = draw(st.integers(99, now + 1))
    upto = sum(1 for e in events if e.time <= to_time)
    lo = draw(st.integers(0, upto))
    base: list[Item] = []
    for key in range(4):
        prefix = draw(st.integers(lo, upto))
        item = model_at(events, prefix).get(key)
        if item is not None:
            base.append(item)
    records = [record_of(i, e) for i, e in enumerate(events)][lo:]
    return events, to_time, base, records, upto
