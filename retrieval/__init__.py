"""Query time: load the index, search it, extract the answering sentence with citations.

Never imports ``telegram``.  ``python -m retrieval ask`` is the command-line entry point.
"""
