"""The service's Prometheus metrics: the families (`families`), bounded label values
(`labels`), the process's own counters sampled into them (`sampler`), and where they are served
(`exposition`).

With several uvicorn workers (`BFF_WORKERS` > 1) every process writes its samples to files in
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode), and the metrics listener of
the supervising process adds them up.
"""
