"""Process-wide concerns any room may use: logging, Prometheus metrics, GC settings, retry waits."""
