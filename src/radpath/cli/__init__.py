"""The typer command line: one module per command group, registered in `app.COMMAND_MODULES`."""
