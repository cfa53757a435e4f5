"""Task processes (mrargo/local/children.py): fork, one message, the end, a kill."""

from __future__ import annotations

import os
import signal
import sys
import time

from mrargo.local import children


def _finish(child: children.Child) -> tuple[bytes | None, int]:
    assert children.wait([child], timeout=10) == [child]
    return child.message(), child.join()


def test_a_message_longer_than_the_pipe_arrives_whole() -> None:
    text = os.urandom(300_000)  # a pipe holds 64 KiB: the child blocks until the parent reads
    child = children.start(lambda fd: children.send(fd, text))
    assert _finish(child) == (text, 1)  # target returned: start's exit code 1


def test_a_child_that_dies_without_a_word_gives_no_message_and_its_exit_code() -> None:
    child = children.start(lambda fd: os._exit(3))
    assert _finish(child) == (None, 3)


def test_a_message_cut_short_is_no_message() -> None:
    def half(fd: int) -> None:
        os.write(fd, (100).to_bytes(8, "big") + b"x" * 10)
        os._exit(0)

    assert _finish(children.start(half)) == (None, 0)


def test_a_process_the_task_forked_does_not_hold_the_message_back() -> None:
    hold_r, hold_w = os.pipe()  # the grandchild lives until the test closes hold_w

    def target(fd: int) -> None:
        if os.fork() == 0:  # keeps the message pipe's write end open meanwhile
            os.close(hold_w)
            os.read(hold_r, 1)
            os._exit(0)
        children.send(fd, b"done")
        os._exit(0)

    def hung(*_: object) -> None:
        raise AssertionError("the message waited for the grandchild to end")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        child = children.start(target)
        os.close(hold_r)
        assert _finish(child) == (b"done", 0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        os.close(hold_w)


def test_kill_ends_a_running_child() -> None:
    child = children.start(lambda fd: time.sleep(60))
    assert children.wait([child], timeout=0.1) == []  # still running, silent
    child.kill()
    assert child.exitcode == -9


def test_a_task_reads_no_terminal() -> None:
    def target(fd: int) -> None:
        children.send(fd, repr(sys.stdin.read()).encode())
        os._exit(0)

    assert _finish(children.start(target)) == (b"''", 0)  # /dev/null: at its end at once
