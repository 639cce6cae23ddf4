"""Turns a trained model and a catalogue into a searchable index and keeps it fresh.

``store`` is the catalogue, SQLite or PostgreSQL (the single source of truth), ``vector_index``
and ``lexical`` the two search structures, ``index_store`` the versioned
on-disk layout they are saved in, and ``reindex`` the batch pipeline that
rebuilds them from the store.
"""
