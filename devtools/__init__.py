"""Developer tooling shared by the test suites, the bench and the local scripts (not shipped)."""
