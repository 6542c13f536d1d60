"""metricpipe: a real-time metric collection pipeline you can run on one machine."""

__version__ = "0.1.0"
