"""Pure data in the middle: the job plan, the run binding, building and loading them, the code bundle.

Both backends import the plan, never the internals of mrargo.api.
"""

from mrargo.plan.build import bind, build_plan, load_job, parse_params
from mrargo.plan.model import DEFAULT_RETRIES, Binding, JobPlan, JobRef, Options, StepPlan

__all__ = ["DEFAULT_RETRIES", "Binding", "JobPlan", "JobRef", "Options", "StepPlan", "bind", "build_plan", "load_job", "parse_params"]
