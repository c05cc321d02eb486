"""The gateway's domain: pure rules (roles and permissions, cron schedules, file sniffing, the run
inspector's fold). No I/O: no bus, database, HTTP or settings."""
