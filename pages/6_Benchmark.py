"""Measure the embedding server: latency percentiles and throughput over batch sizes and concurrency."""

from components import page
from components.views import benchmark

benchmark.render(page.setup("Benchmark", "⏱️"))
