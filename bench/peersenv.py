"""The bench venv (bench/.venv-peers) that the non-stdlib peers run in.

It is created on first use, and a peer's packages are installed only when
that peer is about to run, so one that will not install is skipped alone.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field

VERSION_PROBE = """
import importlib.metadata as m, json, sys
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


class InstallError(RuntimeError):
    """The bench venv or a peer's packages could not be installed."""


@dataclass
class PeersEnv:
    path: str
    ready: bool = False
    failed: dict[str, str] = field(default_factory=dict)  # requirement -> why

    @property
    def python(self) -> str:
        return os.path.join(self.path, "bin", "python")

    def create(self) -> None:
        if self.ready or os.path.exists(self.python):
            self.ready = True
            return
        print(f"bench: creating the peers' venv {self.path}", flush=True)
        run([sys.executable, "-m", "venv", self.path])
        self.ready = True

    def versions(self, dists: list[str]) -> dict[str, str]:
        """Installed versions of the given distributions (missing ones are left out)."""
        if not os.path.exists(self.python):
            return {}
        done = subprocess.run([self.python, "-c", VERSION_PROBE, *dists], capture_output=True, text=True, check=False)
        return json.loads(done.stdout) if done.returncode == 0 else {}

    def ensure(self, requirements: tuple[str, ...]) -> None:
        """Install whatever of requirements is missing; raise InstallError if pip fails."""
        self.create()
        installed = self.versions([dist_name(r) for r in requirements])
        missing = [req for req in requirements if not satisfied(req, installed)]
        if not missing:
            return
        for req in missing:
            if req in self.failed:
                raise InstallError(self.failed[req])
        print(f"bench: installing {' '.join(missing)} into {self.path}", flush=True)
        try:
            run([self.python, "-m", "pip", "install", "--quiet", *missing])
        except InstallError as err:
            for req in missing:
                self.failed[req] = str(err)
            raise


def satisfied(requirement: str, installed: dict[str, str]) -> bool:
    """Installed, and at the pinned version if the requirement pins one with '=='."""
    version = installed.get(dist_name(requirement))
    _, pin, wanted = requirement.partition("==")
    return version is not None and (not pin or version == wanted.strip())


def dist_name(requirement: str) -> str:
    """'dask[bag]==1.0' -> 'dask'."""
    for stop in "[=<>~! ;":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip()


def run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = [line[:240] for line in (done.stderr or done.stdout).strip().splitlines()[-3:]]
        command = shlex.join([os.path.basename(argv[0]), *argv[1:]])
        raise InstallError(f"`{command}` exited {done.returncode}: {' | '.join(tail)}")
