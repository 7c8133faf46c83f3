"""The ``retentio`` command line: thin Typer commands over the domain packages."""
