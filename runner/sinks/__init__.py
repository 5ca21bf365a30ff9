"""Where events go: the console, the progress bar, the journal, the API's collector."""
