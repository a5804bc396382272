"""Shared kernel: configuration, domain errors, the embedder and text utilities.

Used by ``index`` (build time), ``retrieval`` (query time) and ``bot``; imports
nothing heavy at import time.
"""
