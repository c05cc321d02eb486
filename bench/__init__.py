"""Benchmarks of Quarry on one machine (`make bench`, or `python -m bench [admission|bus|demo]`).

They print figures and assert nothing. Every figure that depends on the machine is shown
beside a baseline measured in the same run, on the same loopback, with the same load, so the
ratio means something on a noisy two-core box. Every process a benchmark starts is stopped
in a `finally`.
"""
