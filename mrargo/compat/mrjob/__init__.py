"""mrjob's public API on mrargo: port a job by replacing ``mrjob`` with ``mrargo.compat.mrjob`` in its imports.

    from mrargo.compat.mrjob.job import MRJob
    from mrargo.compat.mrjob.step import MRStep
    from mrargo.compat.mrjob.protocol import JSONValueProtocol
    from mrargo.compat.mrjob.compat import jobconf_from_env

The modules mirror mrjob's: ``job``, ``step``, ``protocol``, ``compat`` and
``util``.  What is supported, what differs and what is refused: the README, "Coming from mrjob".
"""

# The mrjob release whose behaviour this layer follows.
__version__ = "0.7.4"
