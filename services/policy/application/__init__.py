"""The policy service's use cases: deciding tool requests, switching policy versions, following budgets."""
