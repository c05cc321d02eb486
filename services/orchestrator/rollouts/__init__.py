"""Progressive delivery of agent versions: assignment, guard metrics, and the Rollout aggregate (pure)."""
