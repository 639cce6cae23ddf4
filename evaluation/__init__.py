"""Offline evaluation of the model and of search: metrics, query sets, reports and plots.

``classification`` scores the saved model per product; ``retrieval`` asks
every search method the same test-split questions. Neither touches the
serving index. The product (``multimodal``, ``indexing``, ``api``) never
imports this package.
"""
