"""Compatibility layers: other MapReduce libraries' APIs on mrargo's engine (``mrargo.compat.mrjob``)."""
