"""mrargo: MapReduce jobs in Python, run locally or compiled to Argo Workflows."""

from mrargo.api import MapReduce, Step

__all__ = ["MapReduce", "Step", "__version__"]
__version__ = "0.1.0"
