"""The batch reindex, shaped like clip-retrieval's inference pipeline.

``reader`` turns the store into work items, ``mapper`` turns a batch of items
into vectors with the model, ``writer`` turns vectors into a new index
version, and ``runner`` strings them together. ``executors`` is the only
module that knows whether the mapping runs in this process or on Ray.
"""
