"""How large a fan-out a compiled spec can run before Argo's workflow object outgrows its 1 MiB limit.

The spec is the same size for any number of splits (tests/test_argo.py),
but the running workflow is not: every map and reduce item adds nodes to
its status.  mrargo caps the tasks of a step (Options.max_tasks, --max-tasks),
growing the splits instead, so that a run at the cap still fits.
"""

from __future__ import annotations

import argo_status as status
import pytest

from mrargo.plan import Options

CAP = Options().max_tasks


def size(maps: int, reducers: int, attempts: int = 1) -> int:
    wf = status.grown(status.grown(status.load_sample(), "map-1", maps, attempts), "reduce-1", reducers, attempts)
    return status.stored_size(wf)


@pytest.mark.parametrize("maps", [10, 1_000, 20_000])
def test_node_status_size_grows_with_the_splits(maps: int) -> None:
    got = size(maps, 4)
    per_map = (got - size(1, 4)) / max(1, maps - 1)
    print(f"{maps} maps: {got} bytes stored, {per_map:.0f} a map")  # the figures the README quotes
    assert 20 < per_map < 400  # gzip makes a map's two nodes (about 2.7 kB of JSON) about a hundred bytes
    if maps == 20_000:
        assert got > status.MAX_WORKFLOW_SIZE  # past the cap, a run would go to Error


# The model gives a real run's nodes within 15% (tests/e2e/test_jobs.py measured 10% under): a margin.
MARGIN = 1.2


def test_a_run_at_the_cap_fits_in_the_workflow_object() -> None:
    """Maps and reducers both at the cap, every one of them retried once (a pod node more each), still fits."""
    at_cap = size(CAP, CAP, attempts=2)
    print(f"{CAP} maps and {CAP} reducers, two attempts each: {at_cap} bytes stored")
    assert at_cap * MARGIN < status.MAX_WORKFLOW_SIZE, at_cap


def test_a_two_step_run_at_its_cap_fits_in_the_workflow_object() -> None:
    """The steps share the budget: each fan-out of a two-step job at its cap, every task retried once, still fits."""
    from mrargo.plan import build_plan

    plan = build_plan("examples/topwords.py")[0]
    assert len(plan.steps) == 2 and plan.task_cap() == CAP // 2
    wf = status.load_sample()
    for fan_out in ("map-1", "reduce-1", "map-2", "reduce-2"):
        wf = status.grown(wf, fan_out, plan.task_cap(), 2)
    at_cap = status.stored_size(wf)
    print(f"two steps, {plan.task_cap()} tasks in each of 4 fan-outs, two attempts each: {at_cap} bytes stored")
    assert at_cap * MARGIN < status.MAX_WORKFLOW_SIZE, at_cap
    whole = status.stored_size(status.grown(status.grown(wf, "map-2", CAP, 2), "reduce-2", CAP, 2))
    assert whole > status.MAX_WORKFLOW_SIZE  # a cap per step, not shared, would not fit
