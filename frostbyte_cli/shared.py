"""What every command module of the ``frostbyte`` CLI uses: the injectable dependencies
(:class:`Deps`), the error reporting of a command, JSON output and the common options.

:mod:`frostbyte_cli.main` builds the app from the command modules; they import this module,
never ``main``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import httpx
import typer
from rich.console import Console

from frostbyte_cli.client import CliError, ControlPlaneClient, RetryPolicy, TenantClient
from frostbyte_cli.targets import control_plane_target, project_root, tenant_target, tenant_trust

# -- dependencies (injectable for tests) -----------------------------------------------------


class LocalRuntime(Protocol):
    """What ``control_plane.local_runtime`` offers (imported only by the ``local`` commands)."""

    def up(self, project_root: Path, *, database_url: str | None = None,
           port: int = 8000) -> Any: ...

    def down(self, project_root: Path) -> list[str]: ...


@dataclass
class Deps:
    """What commands build their clients and consoles from; tests hand in their own."""

    transport: httpx.BaseTransport | None = None
    retry: RetryPolicy | None = None
    poll_interval: float = 1.0
    cwd: Path | None = None
    width: int | None = None
    local_runtime: LocalRuntime | None = None
    _console: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    @property
    def out(self) -> Console:
        if self._console is None:
            self._console = Console(width=self.width, highlight=False)
        return self._console

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = Console(stderr=True, width=self.width, highlight=False)
        return self._err

    def root(self) -> Path:
        return project_root(self.cwd)

    def control_plane(self, url: str | None, admin_token: str | None) -> ControlPlaneClient:
        target = control_plane_target(url, admin_token, root=self.root())
        return ControlPlaneClient(target.url, target.admin_token, transport=self.transport,
                                  retry=self.retry)

    def tenant(self, endpoint: str | None, key: str | None) -> TenantClient:
        target = tenant_target(endpoint, key)
        return TenantClient(target.endpoint, target.key, transport=self.transport,
                            retry=self.retry, verify=tenant_trust(self.root()))

    def runtime(self) -> LocalRuntime:
        if self.local_runtime is not None:
            return self.local_runtime
        try:
            from control_plane import local_runtime
        except ImportError as exc:
            raise CliError(f"the local runtime is not installed here ({exc}); run `make "
                           "install` in the Frostbyte checkout", code="NO_LOCAL_RUNTIME") from exc
        return local_runtime


def deps_of(ctx: typer.Context) -> Deps:
    """The command's :class:`Deps` (the root callback puts them on the context)."""
    return ctx.obj if isinstance(ctx.obj, Deps) else Deps()


F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn a ``CliError`` (or a Frostbyte error from the local runtime) into a red line on
    stderr and exit code 1, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from frostbyte_common.errors import FrostbyteError

        try:
            return func(*args, **kwargs)
        except CliError as exc:
            message = str(exc)
        except FrostbyteError as exc:
            message = f"{exc.code}: {exc.message}"
        ctx = next((a for a in (*args, *kwargs.values()) if isinstance(a, typer.Context)), None)
        err = deps_of(ctx).err if ctx is not None else Console(stderr=True)
        err.print(f"[bold red]error[/] {message}", markup=True, highlight=False)
        raise typer.Exit(1)

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    """``value`` as indented, key-sorted JSON on stdout (the ``--json`` output)."""
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False))


# -- options ---------------------------------------------------------------------------------

UrlOpt = Annotated[str | None, typer.Option(
    "--url", envvar="FROSTBYTE_URL", show_envvar=True,
    help="Control-plane base URL (default: http://127.0.0.1:8000, the local stack).")]
AdminTokenOpt = Annotated[str | None, typer.Option(
    "--admin-token", envvar="FROSTBYTE_ADMIN_TOKEN", show_envvar=True, show_default=False,
    help="Admin token (default: the local stack's .local/admin_token).")]
EndpointOpt = Annotated[str | None, typer.Option(
    "--endpoint", envvar="FROSTBYTE_ENDPOINT", show_envvar=True,
    help="The tenant's data-plane base URL.")]
KeyOpt = Annotated[str | None, typer.Option(
    "--key", envvar="FROSTBYTE_KEY", show_envvar=True, show_default=False,
    help="A vendor key of that tenant.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
