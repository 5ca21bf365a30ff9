"""The journal: one format, one writer, one reader, and resume."""
