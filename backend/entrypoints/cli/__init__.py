"""The `loyalty` command line (typer): `main` holds the app, one module per command group."""
