"""jobconf_from_env and the mrjob.util helpers."""

from __future__ import annotations

from typing import Any

import pytest

from mrargo.compat.mrjob import compat
from mrargo.compat.mrjob.util import cmd_line, to_lines


class FakeTask:
    def __init__(self, input_file: str | None, conf: dict[str, Any]) -> None:
        self.input_file = input_file
        self.conf = conf

    def task_jobconf(self) -> dict[str, Any]:
        return self.conf


@pytest.fixture
def task(monkeypatch: pytest.MonkeyPatch) -> FakeTask:
    t = FakeTask("/data/in.txt", {"mapred.reduce.tasks": 7, "my.key": "v"})
    monkeypatch.setattr(compat, "_task", [t])
    for name in ("mapreduce_map_input_file", "map_input_file", "my_key"):
        monkeypatch.delenv(name, raising=False)
    return t


@pytest.mark.parametrize("name", ["mapreduce.map.input.file", "map.input.file", "mapreduce_map_input_file", "map_input_file"])
def test_the_input_file_under_every_name(task: FakeTask, name: str) -> None:
    assert compat.jobconf_from_env(name) == "file:///data/in.txt"
    task.input_file = "s3://bucket/in.txt"
    assert compat.jobconf_from_env(name) == "s3://bucket/in.txt"


def test_the_jobs_jobconf_and_the_environment_first(task: FakeTask, monkeypatch: pytest.MonkeyPatch) -> None:
    assert compat.jobconf_from_env("mapreduce.job.reduces") == 7
    assert compat.jobconf_from_env("my.key") == "v"
    assert compat.jobconf_from_env("mapreduce.task.partition", "none") == "none"
    monkeypatch.setenv("my_key", "from env")
    assert compat.jobconf_from_env("my.key") == "from env"


def test_outside_a_task_only_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "_task", [])
    monkeypatch.setenv("map_input_file", "hdfs://x")
    assert compat.jobconf_from_env("mapreduce.map.input.file") == "hdfs://x"
    assert compat.jobconf_from_env("nothing.here", 5) == 5


def test_jobconf_from_dict_and_translate() -> None:
    assert compat.jobconf_from_dict({"map.input.file": "a"}, "mapreduce.map.input.file") == "a"
    assert compat.translate_jobconf("mapreduce.job.reduces", "1.0") == "mapred.reduce.tasks"
    assert compat.translate_jobconf("mapred.reduce.tasks", "2.7.1") == "mapreduce.job.reduces"


def test_util() -> None:
    assert cmd_line(["grep", "a b", 3]) == "grep 'a b' 3"
    assert list(to_lines([b"a\nb", b"c\n", b"", b"d"])) == [b"a\n", b"bc\n", b"d"]
    assert list(to_lines([b"x", b"", b"y\n"])) == [b"x", b"y\n"]
