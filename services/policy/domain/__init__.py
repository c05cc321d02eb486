"""The policy service's pure logic: the registry, the policy set and the engine that decides with Cedar."""
