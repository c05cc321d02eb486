"""Offline evaluation of retrieval and cited answers over the shipped sample corpus (`python -m evals`)."""
