"""The gateway: REST + SSE for the frontend, identity, and read models built from the bus."""
