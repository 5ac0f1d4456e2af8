"""Entry point of ``pulumi up -s tenant-<slug>`` (``Pulumi.yaml``: ``main: infra/``).

The program's packages (``infra`` and ``frostbyte_common``) are imported from the project's
virtualenv (``Pulumi.yaml``: ``virtualenv: .venv``), where ``make install`` installed the
project; nothing here adds the checkout to ``sys.path``."""

from infra.config import program

program()
