"""Policy service: decides every tool request against Cedar policies."""
