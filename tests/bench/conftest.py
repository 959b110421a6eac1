"""Benchmarks run on demand (``make bench``), never in the test command: nothing here is collected."""

collect_ignore_glob = ["*"]
