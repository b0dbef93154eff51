"""Engines: the model code shared by the in-process node and the Triton model repository."""
