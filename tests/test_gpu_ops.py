"""pyae._gpu.ops.CudaOps' stream ordering, on a fake CuPy that models
streams and events (no GPU needed): a copy may only read what the caller's
stream wrote after waiting for it."""

import types

import numpy as np
import pytest

from pyae._gpu.ops import CudaOps


class FakeEvent:
    def __init__(self, stream):
        self.stream, self.time = stream, stream.clock


class FakeStream:
    def __init__(self, cupy, name):
        self.cupy, self.name, self.ptr = cupy, name, id(self)
        self.clock = 0   # work enqueued so far
        self.seen = {}   # stream -> the point of its work this stream waits for

    def record(self):
        return FakeEvent(self)

    def wait_event(self, event):
        self.seen[event.stream] = max(self.seen.get(event.stream, 0), event.time)

    def __enter__(self):
        self.cupy.current.append(self)
        return self

    def __exit__(self, *exc):
        self.cupy.current.pop()


class FakeCupy:
    """The caller's stream has written the array (clock 1); a copy on any
    other stream must come after that."""

    def __init__(self):
        self.user = FakeStream(self, "caller")
        self.user.clock = 1
        self.current = [self.user]
        self.cuda = types.SimpleNamespace(get_current_stream=lambda: self.current[-1])

    def asnumpy(self, a, stream):
        if stream is not self.user and stream.seen.get(self.user, 0) < self.user.clock:
            raise AssertionError("copied on a stream that does not wait for the caller's")
        return np.array(a)


@pytest.fixture
def ops():
    fake = FakeCupy()
    ops = object.__new__(CudaOps)  # the real methods, on the fake CuPy
    ops.xp, ops.stream = fake, FakeStream(fake, "ops")
    return ops


def test_copies_to_the_host_wait_for_the_callers_stream(ops):
    np.testing.assert_array_equal(ops.to_host(np.arange(3.0)), np.arange(3.0))
    assert ops.xp.current == [ops.xp.user]  # the caller's stream is current again


def test_the_fake_catches_an_unordered_copy(ops):
    with pytest.raises(AssertionError, match="does not wait"):
        ops.xp.asnumpy(np.zeros(2), stream=ops.stream)
