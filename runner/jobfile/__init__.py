"""The job file, from text to a validated `Job`: safe YAML with line:col, the spec models,
value parsers, cross-field rules, templates, the schema cache.
"""
