"""Build time: read the seed documents, chunk them, embed the passages, write the index.

Never imports ``telegram``.  ``python -m index build`` is the command-line entry point.
"""
