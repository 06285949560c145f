"""Remote proxies behave like the objects they stand for: built-in operations,
attribute reads on remote nodes, one clean error per failure, and a plain error
after ``release()``."""

from __future__ import annotations

from typing import Any

import pytest

import remotemedia as rm
from remotemedia.remote import Session


class Gate(rm.Node):
    """Passes values above ``threshold``; counts what it dropped."""

    def __init__(self, threshold: float = 0.5, name: str | None = None) -> None:
        super().__init__(name=name)
        self.threshold = threshold
        self.dropped = 0

    def process(self, data: float) -> Any:
        if data < self.threshold:
            self.dropped += 1
            return None
        return data

    def report(self, prefix: str) -> str:
        return f"{prefix}: dropped {self.dropped}"


class Bag:
    """Has no len() and no items."""

    def __repr__(self) -> str:
        return "Bag()"


def test_builtins_are_forwarded(session: Session) -> None:
    items = rm.RemoteObject([1, 2], session)
    assert len(items) == 2
    assert list(items) == [1, 2]
    assert 2 in items and 5 not in items
    items[0] = 10
    assert items[0] == 10
    items.append(3)
    assert list(items) == [10, 2, 3] and bool(items)
    assert repr(items) == f"RemoteObject([10, 2, 3] @ {session.address})"
    table = rm.RemoteObject({"a": 1}, session)
    assert table["a"] == 1
    del table["a"]
    assert len(table) == 0 and not table
    big = rm.RemoteObject(list(range(1000)), session)
    assert sum(big) == sum(range(1000))  # several chunks


def test_lookup_errors_are_the_builtin_ones_said_once(session: Session) -> None:
    table = rm.RemoteObject({"a": 1}, session)
    with pytest.raises(KeyError) as key_info:
        table["missing"]
    assert key_info.value.args == ("missing",)
    with pytest.raises(IndexError, match="list index out of range"):
        rm.RemoteObject([], session)[3]
    bag = rm.RemoteObject(Bag(), session)
    with pytest.raises(TypeError, match="object of type 'Bag' has no len"):
        len(bag)
    with pytest.raises(AttributeError) as attr_info:
        bag.colour
    text = str(attr_info.value)
    assert text == "'Bag' object has no attribute 'colour'"
    assert "AttributeError" not in text  # said once, by the type
    assert not hasattr(bag, "colour")


def test_remote_node_attributes_are_read_from_the_server(session: Session) -> None:
    node = rm.remote(Gate(threshold=0.3), session)
    assert node.threshold == 0.3  # before the instance exists: its local copy
    assert rm.Pipeline([node]).collect([0.1, 0.2, 0.9]) == [0.9]
    assert node.dropped == 2  # the remote instance's state
    assert node.node.dropped == 0  # (the local copy never ran)
    assert node.report("gate") == "gate: dropped 2"
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        node.nothing


def test_a_released_object_says_so(session: Session) -> None:
    obj = rm.RemoteObject([1, 2, 3], session)
    append = obj.append
    obj.release()
    obj.release()  # twice is fine
    for use in (lambda: obj.append(4), lambda: append(4), lambda: len(obj)):
        with pytest.raises(rm.RemoteError, match="was released") as info:
            use()
        assert info.value.remote_traceback == ""  # a client-side error
    assert "released" in repr(obj)


def test_an_object_lost_to_a_reset_is_a_plain_error(session: Session) -> None:
    obj = rm.RemoteObject([1], session)
    session.reset()
    with pytest.raises(rm.RemoteError, match="no remote object") as info:
        obj.append(2)
    assert info.value.code == "NOT_FOUND"
    assert "Traceback" not in info.value.remote_traceback
