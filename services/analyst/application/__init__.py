"""The analyst's use cases: its lane's tasks, offline or written by a model."""
