"""``job.make_runner()``: run a ported job with mrargo, as mrjob's runners do.

``-r inline`` and ``-r local`` both run the job with mrargo's local
executor (mrargo.run); ``-r argo`` compiles it (``runner.spec`` holds the
YAML).  The runner reads stdin into a file when the input is ``-`` (or
absent), writes to ``--output-dir`` or a temporary folder, and serves the
output and the counters the way mrjob's runner does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from mrargo.cli.mrjob import ELSEWHERE, RUNNERS_HERE, RUNNERS_REFUSED
from mrargo.compat.mrjob import lower
from mrargo.compat.mrjob.job import PARAM, planning
from mrargo.compat.mrjob.step import StepFailedException
from mrargo.errors import OutputExistsError, TaskFailedError, UsageError

CHUNK = 1 << 20
FRAMEWORK = "mrargo"  # the engine's own counter group; mrjob's counters() has only the job's


class Runner:
    """Runs one job for its command line; use it as a context manager, which removes its temporary files."""

    def __init__(self, job: Any) -> None:
        self.job = job
        o = job.options
        self.runner = o.runner or "inline"
        if self.runner in RUNNERS_REFUSED:
            raise UsageError(f"-r {self.runner} is not supported: {ELSEWHERE}")
        if self.runner not in (*RUNNERS_HERE, "argo"):
            raise UsageError(f"-r {self.runner}: unknown runner; use inline, local or argo")
        for key, value in (o.jobconf or {}).items():
            problem = lower.jobconf_problem(key, value)
            if problem:
                raise UsageError(f"-D {key}: {problem}")
        if o.num_cores is not None and o.num_cores < 1:
            raise UsageError(f"--num-cores must be at least 1, got {o.num_cores}")
        self.spec = ""
        self._tmp: str | None = None
        self._output: str | None = None
        self._step_counters: tuple[dict[str, dict[str, int]], ...] | None = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _tmpdir(self) -> str:
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="mrjob-")
        return self._tmp

    def _target(self) -> Any:
        """The job for the engine: its file (so tasks and specs load it from there) when it runs as a script."""
        cls = type(self.job)
        path = cls.mr_job_script()
        if cls.__module__ == "__main__" or self.runner == "argo":
            if not path:
                raise UsageError(f"{cls.__name__} has no source file; define it in a .py file")
            return f"{path}:{cls.__qualname__}"
        return cls

    def run(self) -> None:
        """Run the job (or, with -r argo, compile it)."""
        # The job's own steps first: a job mrargo cannot run fails here, with the reason alone.
        self.job.steps()
        if self.runner == "argo":
            self.spec = self._compile()
            return
        import mrargo

        o = self.job.options
        output = o.output_dir or os.path.join(self._tmpdir(), "output")
        try:
            with planning(self.job._cl_args):
                result = mrargo.run(
                    self._target(),
                    self._inputs(),
                    output,
                    params={PARAM: self._task_param(lambda path: os.path.abspath(path))},
                    workers=o.num_cores,
                    work_dir=o.local_tmp_dir,
                    progress=not o.quiet,
                    **self._plan_options(),
                )
        except OutputExistsError as e:
            raise OutputExistsError(e.url, how="pass another --output-dir") from None
        except TaskFailedError as e:
            raise StepFailedException(str(e), exit_code=e.exit_code) from e
        self._output = result.output
        self._step_counters = result.step_counters

    def _plan_options(self) -> dict[str, Any]:
        # mapper_raw reads the files itself; the text the engine decodes for it
        # is never used, so a binary file must not fail the run.
        return {"decode_errors": "replace"} if type(self.job).INPUT_FORMAT == "files" else {}

    def _inputs(self) -> list[str]:
        paths = list(self.job.options.args) or ["-"]
        if "-" not in paths:
            return paths
        # mrjob reads stdin for "-": keep it in a file, which the engine can split.
        stdin = os.path.join(self._tmpdir(), "stdin")
        source = self.job.stdin
        with open(stdin, "wb") as f:
            if hasattr(source, "read"):
                shutil.copyfileobj(source, f)
            else:
                for line in source:  # sandbox(stdin=[b"line\n", ...])
                    f.write(line)
        return [stdin if p == "-" else p for p in paths]

    def _task_param(self, ship: Any) -> str:
        """The run's options for every task (job.PARAM): the job's own options, its jobconf and cmdenv, as JSON."""
        job, o = self.job, self.job.options
        values: dict[str, Any] = {}
        for dest in sorted(job._passthru_arg_dests | job._file_arg_dests):
            v = getattr(o, dest, None)
            if dest in job._file_arg_dests and v is not None:
                v = [ship(p) for p in v] if isinstance(v, list) else ship(v)
            values[dest] = v
        doc = {"options": values, "jobconf": job.task_jobconf(), "cmdenv": job.task_cmdenv()}
        try:
            return json.dumps(doc, sort_keys=True)
        except TypeError as e:
            raise UsageError(f"an option's value cannot be passed to the tasks ({e}); options must hold str, int, float, bool or lists of them") from None

    def _compile(self) -> str:
        from mrargo.argo.compiler import compile_workflow
        from mrargo.argo.options import CompileOptions, RunDefaults
        from mrargo.plan import Options, build_plan, parse_params

        o = self.job.options
        if "-" in o.args:
            raise UsageError("-r argo cannot read stdin; give input URLs")
        with planning(self.job._cl_args):
            plan, job_dir = build_plan(self._target(), options=Options(**self._plan_options()))
        shipped: list[str] = []

        def ship(path: str) -> str:
            # A file option's file travels in the spec beside the job, as FILES do.
            rel = os.path.relpath(os.path.abspath(path), job_dir)
            if rel.startswith("..") or os.path.isabs(rel):
                raise UsageError(f"{path}: with -r argo a file option's file must be in the job's folder ({job_dir}), so it can travel with the job")
            shipped.append(rel)
            return os.path.basename(rel)

        param = self._task_param(ship)
        plan = plan.with_(files=tuple(dict.fromkeys((*plan.files, *shipped))))
        defaults = RunDefaults(inputs=tuple(o.args), output=o.output_dir or "", work_root=o.work_root, params=parse_params({PARAM: param}))
        opts = CompileOptions(name=o.name, namespace=o.namespace, image=o.image, s3_endpoint=o.s3_endpoint, s3_secret=o.s3_secret)
        command = f"python {os.path.basename(plan.job.path)} -r argo"
        return str(compile_workflow(plan, job_dir, opts, defaults, command=command).to_yaml())

    def get_output_dir(self) -> str | None:
        return self._output

    def cat_output(self) -> Iterator[bytes]:
        """The output's bytes, part file by part file, with an empty chunk between files (as mrjob)."""
        if self._output is None:
            raise ValueError("Run the job before streaming output" if not self.spec else "-r argo compiled the job; nothing ran here")
        from mrargo import store

        names = sorted(n for n in store.list_dir(self._output) if not n.startswith(("_", ".")))
        for i, name in enumerate(names):
            if i:
                yield b""
            with store.open_random(store.join(self._output, name)) as f:
                while chunk := f.read(CHUNK):
                    yield chunk

    def counters(self) -> list[dict[str, dict[str, int]]]:
        """The job's counters, one dict a step, as mrjob gives them (mrargo's own counters aside)."""
        if self._step_counters is None:
            return []
        return [{g: dict(c) for g, c in step.items()} for step in self._step_counters]
