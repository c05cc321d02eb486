"""The gateway's use cases: what a route asks for, done against the read models and the bus.

A route parses the request, calls one function here and returns what it gives; the checks,
queries and events of a request live here, so two routes never need each other's code.
"""
