"""Quarry's security features: who may say what on the bus, delegation tokens, the egress guard
against server-side request forgery, guardrails for text, and shared rate limits."""
