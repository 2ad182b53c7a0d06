"""Running the server: health checks, Prometheus metrics, JSON request logs."""
