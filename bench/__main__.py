"""Run every benchmark and print a table (make bench)."""

print("no benchmarks yet")
