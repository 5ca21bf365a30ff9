"""The job file, from text to a validated `Job`: safe YAML with line:col, the spec models,
the plain classes a run is given, value parsers, cross-field rules, templates, the
schema cache.
"""
