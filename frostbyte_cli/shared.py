"""What every command module of the ``frostbyte`` CLI uses: the injectable dependencies
(:class:`Deps`), the error reporting of a command, JSON output and the common options.

:mod:`frostbyte_cli.main` builds the app from the command modules; they import this module,
never ``main``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import httpx
import typer
from rich.console import Console

# Typer vendors Click (typer._click): its contexts and exceptions are those, not click's.
from typer._click.core import Context as ClickContext
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperGroup

from frostbyte_cli.client import CliError, ControlPlaneClient, RetryPolicy, TenantClient
from frostbyte_cli.exit_codes import (
    ExitCode,
    envelope_line,
    envelope_of,
    error_envelope,
    exit_code_for,
)
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
    #: No progress bars and no retry notices on stderr (``--json``: stderr is for the error).
    quiet: bool = False
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

    def retry_notice(self, what: str, tried: int, wait: float) -> None:
        """Before a retry: what failed and how long the CLI waits (stderr)."""
        if not self.quiet:
            self.err.print(f"[yellow]retry[/] {what}; try {tried + 1} in {wait:.1f} s",
                           highlight=False)

    def control_plane(self, url: str | None, admin_token: str | None) -> ControlPlaneClient:
        target = control_plane_target(url, admin_token, root=self.root())
        return ControlPlaneClient(target.url, target.admin_token, transport=self.transport,
                                  retry=self.retry, on_retry=self.retry_notice)

    def tenant(self, endpoint: str | None, key: str | None) -> TenantClient:
        target = tenant_target(endpoint, key)
        return TenantClient(target.endpoint, target.key, transport=self.transport,
                            retry=self.retry, verify=tenant_trust(self.root()),
                            on_retry=self.retry_notice)

    def runtime(self) -> LocalRuntime:
        if self.local_runtime is not None:
            return self.local_runtime
        try:
            from control_plane import local_runtime
        except ImportError as exc:
            raise CliError(f"the local runtime is not installed here ({exc}); run `make "
                           "install` in the Frostbyte checkout", code="NO_LOCAL_RUNTIME") from exc
        return local_runtime


def deps_of(ctx: ClickContext) -> Deps:
    """The command's :class:`Deps` (the root callback puts them on the context)."""
    return ctx.obj if isinstance(ctx.obj, Deps) else Deps()


F = TypeVar("F", bound=Callable[..., Any])


def _json_requested(ctx: ClickContext | None, kwargs: dict[str, Any]) -> bool:
    if kwargs.get("json_out"):
        return True
    return bool(ctx is not None and ctx.params.get("json_out"))


def report_error(err: Console, error: CliError, *, as_json: bool) -> int:
    """Print ``error`` (a red line, or the JSON envelope under ``--json``) on stderr; its
    exit code (:mod:`frostbyte_cli.exit_codes`)."""
    code = exit_code_for(error)
    if as_json:
        typer.echo(envelope_line(envelope_of(error)), err=True)
    else:
        err.print("[bold red]error[/] ", end="", highlight=False)
        err.print(str(error), markup=False, highlight=False, soft_wrap=True)
    return int(code)


def reports_errors(func: F) -> F:
    """Turn a ``CliError`` (or a Frostbyte error from the local runtime) into a red line on
    stderr — or, with ``--json``, the JSON error envelope on stderr — and the exit code of
    its kind (:mod:`frostbyte_cli.exit_codes`), instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from frostbyte_common.errors import FrostbyteError

        ctx = kwargs.get("ctx")
        ctx = ctx if isinstance(ctx, ClickContext) else None
        if ctx is not None and isinstance(ctx.obj, Deps) and _json_requested(ctx, kwargs):
            ctx.obj.quiet = True
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            error = exc
        except FrostbyteError as exc:
            error = CliError(exc.message, code=exc.code)
        err = deps_of(ctx).err if ctx is not None else Console(stderr=True)
        raise typer.Exit(report_error(err, error, as_json=_json_requested(ctx, kwargs)))

    return wrapper  # type: ignore[return-value]


class JsonErrorsGroup(TyperGroup):
    """The root command: with ``--json`` on the command line, what Click itself refuses (an
    unknown option, a missing argument, a path that does not exist: exit 2) is reported as
    the JSON error envelope on stderr too, code ``USAGE``."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or "--json" not in argv:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=standalone_mode,
                                windows_expand_args=windows_expand_args, **extra)
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, windows_expand_args=windows_expand_args,
                              **extra)
        except ClickException as exc:
            code = "USAGE" if isinstance(exc, UsageError) else "ERROR"
            typer.echo(envelope_line(error_envelope(code, exc.format_message(),
                                                    exit_code=exc.exit_code)), err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo(envelope_line(error_envelope("ABORTED", "aborted",
                                                    exit_code=ExitCode.FAILED)), err=True)
            sys.exit(int(ExitCode.FAILED))
        sys.exit(rv if isinstance(rv, int) else 0)


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
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print JSON for scripts; an error is then one JSON line on stderr.")]
LimitOpt = Annotated[int, typer.Option(min=1, max=500, help="Items per page (1-500).")]
OffsetOpt = Annotated[int, typer.Option(min=0, help="Items to skip (paging).")]
