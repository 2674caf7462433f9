"""Scheduled jobs: fire times from config.yaml, run once per (job, community, period) over the injected clock."""
