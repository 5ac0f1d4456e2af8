"""``frostbyte releases build|list``: the local data-plane releases a local tenant can be
updated to (``frostbyte tenants update SLUG --version V``), in ``<state>/releases/`` of the
local stack (``$FROSTBYTE_STATE_DIR`` or ``<project root>/.local``). A build makes a wheel of a
source tree (this checkout by default) labelled with the version and installs it into the
release's folder, with what is installed here only (no network); see
:mod:`control_plane.adapters.releases`. Registered on the root app by :mod:`frostbyte_cli.main`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from frostbyte_cli.shared import JsonOpt, deps_of, print_json, reports_errors
from frostbyte_cli.targets import project_root, state_dir

if TYPE_CHECKING:
    from control_plane.adapters.releases import LocalReleases

releases_app = typer.Typer(no_args_is_help=True,
                           help="Data-plane releases local tenants can be updated to.")

StateOpt = Annotated[Path | None, typer.Option(
    "--state-dir", help="The local stack's state folder (default: $FROSTBYTE_STATE_DIR or "
    "<project root>/.local).")]


def _releases(state: Path | None) -> LocalReleases:
    from control_plane.adapters.releases import LocalReleases

    root = (state or state_dir(project_root())).resolve() / "releases"
    return LocalReleases(root, python=Path(sys.executable))


@releases_app.command("build")
@reports_errors
def releases_build(
    ctx: typer.Context,
    version: Annotated[str, typer.Option("--version", help="The release's version (PEP 440, "
                                         "e.g. 0.2.0 or 0.1.0+hotfix1).")],
    source: Annotated[Path | None, typer.Option(
        "--source", help="The source tree to build (default: this checkout).")] = None,
    state: StateOpt = None, json_out: JsonOpt = False,
) -> None:
    """Build release VERSION from a source tree into <state>/releases/VERSION."""
    deps = deps_of(ctx)
    with deps.err.status(f"Building data-plane release {version}…"):
        release = _releases(state).build(version, (source or project_root()).resolve())
    if json_out:
        print_json(release.as_json())
    else:
        deps.out.print(f"release {release.version} built in {release.path}")


@releases_app.command("list")
@reports_errors
def releases_list(ctx: typer.Context, state: StateOpt = None,
                  json_out: JsonOpt = False) -> None:
    """The releases local tenants can run: the installed one (default) and the built ones."""
    releases = _releases(state).available()
    if json_out:
        print_json({"releases": [r.as_json() for r in releases]})
        return
    table = Table("version", "where", "built")
    for release in releases:
        table.add_row(release.version, str(release.path or "installed (default)"),
                      release.built_at or "")
    deps_of(ctx).out.print(table)
