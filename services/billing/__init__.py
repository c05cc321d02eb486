"""Billing: a per-tenant credit ledger that reserves, meters, settles and refunds credits."""
