"""The `runner` command: thin typer commands; exit codes in one place."""
