"""The shared runtime every Quarry service uses: bus, stores, settings, telemetry.

Services import this package and `contracts`, never each other.
"""
