"""The benchmark harness behind `make bench` (`python -m bench`); see `bench.harness`."""
