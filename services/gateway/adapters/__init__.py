"""Stores of the gateway's own state that is not rebuilt from the bus: the audit log, share links."""
