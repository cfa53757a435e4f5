"""The Argo backend: a job plan lowered to an Argo Workflows spec through hera.

- ``contract``: the names, paths and exit codes the spec and the pods share.
- ``options``: what shapes a spec besides the plan (CompileOptions, RunDefaults).
- ``checks``: the strings that may enter a spec.
- ``spec``: the hera lowering; ``compiler``: compile_workflow, the front door.
- ``image``: the worker image (Dockerfile, build).

Importing this package imports no hera: the worker imports contract and
checks, and pods must start fast.
"""
