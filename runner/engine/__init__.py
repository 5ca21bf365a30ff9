"""What may start now and what to do with what comes back: admission, attempts in flight,
retries, timeouts, failures, signals, shutdown.
"""
