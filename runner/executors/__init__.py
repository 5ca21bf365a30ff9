"""Executors: the interface (`base`), the choice of one and what each kind can do (`kinds`),
one thin adapter per kind, and the slot table and messages the pools share.
"""
