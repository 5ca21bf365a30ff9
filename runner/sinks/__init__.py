"""Where events go: the console, the progress bar, the journal, `--json`, the API's collector."""
