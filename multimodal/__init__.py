"""Data, encoders, the fusion model and its training: no storage, no HTTP."""
