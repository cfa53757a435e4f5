"""End-to-end tests on the real test cluster (see README.md here)."""
