"""What more than one test file needs, and what `bench/` borrows from the tests: polling with a
deadline, an in-process gateway, generated runs. The dependency points one way: tests/support
imports nothing from `bench/` or from a test module."""
