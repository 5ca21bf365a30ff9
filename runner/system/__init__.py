"""The operating system side: process trees, the guardian, the registry of live runs, the event
loop.
"""
