"""The chaos suite's fault-injecting proxy (tests/integration/test_chaos.py, scripts/chaos)."""
