"""Analyst: plans research questions and writes cited, extractive drafts without an LLM."""
