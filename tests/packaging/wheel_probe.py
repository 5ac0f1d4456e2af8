"""Run by ``test_wheel.py`` with the interpreter of a fresh venv that has only the built wheel
(and, through a plain path line, the project venv's third-party packages): where the
packages come from, and the Pulumi program and the playbooks loaded through the same code
the ``hetzner`` provider runs, for the packages named in its arguments. Prints one JSON
object; asserts nothing itself.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def pulumi_resources(program: Any) -> list[str]:
    """The resource types the program registers under Pulumi's mocks (no CLI, no cloud)."""
    import pulumi

    registered: list[str] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            registered.append(args.typ)
            return f"{len(registered)}", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs
                 ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
            return {}, None

    pulumi.runtime.set_mocks(Mocks(), project="frostbyte-tenant", stack="tenant-acme",
                             preview=False)
    pulumi.runtime.set_all_config({
        "frostbyte:tenant": "acme",
        "frostbyte:networkCidr": "10.64.0.0/24",
        "frostbyte:sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBwheelprobe cp",
        "frostbyte:controlPlaneAddresses": '["203.0.113.10"]',
        "frostbyte:allowedCidrs": '["198.51.100.0/24"]',
    })
    pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    return sorted(set(registered))


def playbook_syntax(playbooks: Path) -> subprocess.CompletedProcess[str]:
    """``ansible-playbook --syntax-check site.yml`` with the provider's Ansible settings."""
    env = {"ANSIBLE_CONFIG": str(playbooks / "ansible.cfg"),
           "ANSIBLE_ROLES_PATH": str(playbooks / "roles"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(Path.cwd() / "ansible-tmp"),
           "ANSIBLE_HOME": str(Path.cwd() / "ansible-home"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "ansible.cli.playbook", "--syntax-check", "-i", "localhost,",
         "site.yml"], cwd=playbooks, env=env, capture_output=True, text=True, check=False,
        timeout=120)


def main() -> None:
    # the local provider first: it must load without the data plane
    importlib.import_module("control_plane.providers.local")
    local_provider_loaded_data_plane = "data_plane" in sys.modules

    files = {name: importlib.import_module(name).__file__ for name in sys.argv[1:]}
    typed = {name: (Path(str(path)).parent / "py.typed").is_file() for name, path in files.items()}

    from control_plane.providers.hetzner.ansible import installed_playbooks
    from control_plane.providers.hetzner.automation import load_program
    from frostbyte_common.version import __version__

    program = load_program()
    playbooks = installed_playbooks()
    syntax = playbook_syntax(playbooks)
    data_plane = Path(str(files["data_plane"])).parent
    facts = {
        "prefix": sys.prefix,
        "files": files,
        "typed": typed,
        "editable": sorted({m for m in sys.modules if "editable" in m.lower()}
                           | {type(f).__name__ for f in sys.meta_path
                              if "editable" in type(f).__name__.lower()}),
        "local_provider_loaded_data_plane": local_provider_loaded_data_plane,
        "version": __version__,
        "program": f"{program.__module__}.{program.__qualname__}",
        "program_file": sys.modules[program.__module__].__file__,
        "resources": pulumi_resources(program),
        "playbooks": str(playbooks),
        "playbook_files": sorted(str(p.relative_to(playbooks)) for p in playbooks.rglob("*")
                                 if p.is_file() and "__pycache__" not in p.parts),
        "syntax_check": [syntax.returncode, syntax.stdout[-2000:] + syntax.stderr[-2000:]],
        "sql": sorted(p.name for p in (data_plane / "adapters" / "sql").glob("*.sql")),
        "signatures": sorted(p.name for p in (data_plane / "adapters" / "clamav"
                                              / "signatures").iterdir()),
    }
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
