"""``python -m frostbyte_cli`` = the ``frostbyte`` command."""

from frostbyte_cli.main import app

app(prog_name="frostbyte")
