"""The real :class:`~.stack.StackRunner`: the Pulumi Automation API with the inline program
from ``infra/``.

It needs the Pulumi CLI and the hcloud resource plugin on the control plane's host; neither
exists on the build machines, so this adapter is written but never run there (nothing may
pretend a real ``pulumi up`` ran). Its mapping of Automation API errors is the one place
those exceptions are translated; everything above it sees :mod:`.stack` errors only.

Secrets reach the CLI by environment only (:attr:`.StackConfig.environment`, e.g.
``HCLOUD_TOKEN``, and the state's ``PULUMI_CONFIG_PASSPHRASE``): stack config is set with
``pulumi config set-all`` and every value on its command line, which any local user reads in
``/proc/<pid>/cmdline``. A ``hcloud:token`` an older control plane kept in a stack's config
is removed (the hcloud plugin would prefer it over the environment's).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from control_plane.domain.health import DriftedResource
from control_plane.providers.hetzner.stack import (
    OutputSink,
    StackBusy,
    StackConfig,
    StackError,
    StackNotFound,
    StackTimeout,
    StackUnavailable,
)

log = logging.getLogger(__name__)

PROJECT = "frostbyte-tenant"  # as in the root Pulumi.yaml
LEGACY_TOKEN_KEY = "hcloud:token"  # noqa: S105 (a config key, not a token)
T = TypeVar("T")


class _Environment(dict[str, str]):
    """The CLI's extra environment; its repr names the variables only (the SDK's workspace
    repr shows its ``env_vars``, and a repr may end up in a log)."""

    def __repr__(self) -> str:
        return f"<environment: {', '.join(sorted(self))}>"


def load_program() -> Callable[[], None]:
    """The inline program: ``infra.config.program``, from the installed ``infra`` package (the
    wheel carries it). Imported on first use: it pulls in the Pulumi SDK and pulumi_hcloud."""
    from infra.config import inline_program

    return inline_program()


@contextmanager
def _mapped(stack: str, what: str) -> Iterator[None]:
    """Translate Automation API exceptions into :mod:`.stack` errors (safe messages only: the
    CLI's output already went to the job log through ``on_output``)."""
    from pulumi import automation as auto

    try:
        yield
    except auto.ConcurrentUpdateError:
        raise StackBusy(f"stack {stack} is being updated by someone else; {what} will be "
                        "retried later") from None
    except auto.StackNotFoundError:
        raise StackNotFound(f"stack {stack} does not exist") from None
    except auto.InvalidVersionError as exc:
        raise StackUnavailable(f"the Pulumi CLI on this host is not usable: {exc}") from None
    except (auto.InlineSourceRuntimeError, auto.CompilationError):
        raise StackError(f"{what} of stack {stack} failed: the infra program raised an error "
                         "(see the job log)") from None
    except auto.CommandError:
        raise StackError(f"{what} of stack {stack} failed (see the job log)") from None
    except FileNotFoundError:
        raise StackUnavailable("the Pulumi CLI is not installed on the control plane's host"
                               ) from None


#: what a refresh step does to the record of a resource that drifted (the engine reports a
#: refresh's result op on the resource's outputs event: same, update or delete)
DRIFT_OPS = frozenset({"update", "delete", "replace"})


def drifted_resource(event: Any) -> DriftedResource | None:
    """The resource an engine event of a refresh preview reports drifted, or None: its URN,
    type, op and the names of the properties that differ (the engine's ``diffs``, else the
    outputs whose values differ — compared here, never kept). The stack and its providers
    (``pulumi:`` types) are not cloud resources."""
    step = getattr(event, "res_outputs_event", None)
    if step is None:
        return None
    meta = step.metadata
    op = str(getattr(meta.op, "value", meta.op))
    kind = str(meta.type)
    if op not in DRIFT_OPS or kind.startswith("pulumi:"):
        return None
    names = {str(name) for name in (meta.diffs or ())}
    if not names and meta.old is not None and meta.new is not None:
        old, new = dict(meta.old.outputs or {}), dict(meta.new.outputs or {})
        names = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    return DriftedResource(urn=str(meta.urn), kind=kind, op=op, properties=tuple(sorted(names)))


class AutomationStackRunner:
    """Automation API adapter. ``backend_url`` is the state backend (``file://...``,
    ``s3://...``); ``env`` reaches the CLI only (e.g. ``PULUMI_CONFIG_PASSPHRASE``)."""

    def __init__(self, *, backend_url: str, env: Mapping[str, str],
                 secrets_provider: str = "passphrase", pulumi_home: Path | None = None) -> None:
        self._backend_url = backend_url
        self._env = dict(env)
        self._secrets_provider = secrets_provider
        self._pulumi_home = pulumi_home

    def _options(self, environment: Mapping[str, str]) -> Any:
        from pulumi import automation as auto

        return auto.LocalWorkspaceOptions(
            env_vars=_Environment({**self._env, **environment}),
            secrets_provider=self._secrets_provider,
            pulumi_home=str(self._pulumi_home) if self._pulumi_home else None,
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python",
                backend=auto.ProjectBackend(url=self._backend_url)),
        )

    def _stack(self, stack: str, *, create: bool,
               environment: Mapping[str, str] | None = None) -> Any:
        from pulumi import automation as auto

        opts = self._options(environment or {})
        if create:
            return auto.create_or_select_stack(stack_name=stack, project_name=PROJECT,
                                               program=load_program(), opts=opts)
        return auto.select_stack(stack_name=stack, project_name=PROJECT, program=load_program(),
                                 opts=opts)

    @staticmethod
    def _configure(handle: Any, config: StackConfig) -> None:
        """Set the plain values (on the CLI's command line: never a secret); drop a token an
        older control plane kept in the stack's config."""
        from pulumi import automation as auto

        handle.set_all_config({k: auto.ConfigValue(value=v, secret=False)
                               for k, v in config.values.items()})
        if LEGACY_TOKEN_KEY in handle.get_all_config():
            handle.remove_config(LEGACY_TOKEN_KEY)

    @staticmethod
    def _with_deadline(handle: Any, stack: str, what: str, timeout_s: float,
                       call: Callable[[], T]) -> T:
        """Run ``call`` with a deadline; past it, ``pulumi cancel`` the update and fail."""
        result: dict[str, Any] = {}

        def target() -> None:
            try:
                result["value"] = call()
            except BaseException as exc:  # handed to the caller's thread below
                result["error"] = exc

        worker = threading.Thread(target=target, name=f"pulumi-{what}-{stack}", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            log.warning("stack %s: %s ran past %.0f s; cancelling", stack, what, timeout_s)
            try:
                with _mapped(stack, "cancel"):
                    handle.cancel()
            except StackError:
                log.exception("stack %s: cancel failed", stack)
            worker.join(60)
            raise StackTimeout(f"{what} of stack {stack} ran past {timeout_s:.0f} s and was "
                               "cancelled; resources may be half-made (see the job log)")
        if "error" in result:
            raise result["error"]
        value: T = result["value"]
        return value

    def up(self, stack: str, config: StackConfig, on_output: OutputSink,
           timeout_s: float) -> dict[str, Any]:
        with _mapped(stack, "up"):
            handle = self._stack(stack, create=True, environment=config.environment)
            self._configure(handle, config)
            result = self._with_deadline(
                handle, stack, "up", timeout_s,
                lambda: handle.up(on_output=on_output, on_error=on_output, color="never",
                                  suppress_progress=True))
            return {name: out.value for name, out in result.outputs.items()}

    def refresh(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        with _mapped(stack, "refresh"):
            handle = self._stack(stack, create=False, environment=config.environment)
            self._configure(handle, config)
            self._with_deadline(handle, stack, "refresh", timeout_s,
                                lambda: handle.refresh(on_output=on_output, on_error=on_output,
                                                       color="never"))

    def drift(self, stack: str, config: StackConfig, on_output: OutputSink,
              timeout_s: float) -> list[DriftedResource]:
        """``preview_refresh``: what a refresh would change in the stack's record, read from
        the engine's events (nothing is written)."""
        found: dict[str, DriftedResource] = {}

        def on_event(event: Any) -> None:
            resource = drifted_resource(event)
            if resource is not None:
                found[resource.urn] = resource

        with _mapped(stack, "refresh preview"):
            handle = self._stack(stack, create=False, environment=config.environment)
            self._configure(handle, config)
            self._with_deadline(
                handle, stack, "refresh preview", timeout_s,
                lambda: handle.preview_refresh(on_output=on_output, on_error=on_output,
                                               on_event=on_event, color="never"))
        return sorted(found.values(), key=lambda r: r.urn)

    def destroy(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        with _mapped(stack, "destroy"):
            handle = self._stack(stack, create=False, environment=config.environment)
            self._configure(handle, config)
            self._with_deadline(handle, stack, "destroy", timeout_s,
                                lambda: handle.destroy(on_output=on_output, on_error=on_output,
                                                       color="never"))

    def outputs(self, stack: str) -> dict[str, Any]:
        with _mapped(stack, "outputs"):
            handle = self._stack(stack, create=False)
            return {name: out.value for name, out in handle.outputs().items()}

    def resources(self, stack: str) -> list[str]:
        with _mapped(stack, "export"):
            handle = self._stack(stack, create=False)
            deployment = handle.export_stack().deployment or {}
            return [str(r.get("urn")) for r in deployment.get("resources", [])
                    if str(r.get("type", "")).startswith("hcloud:index/")]

    def remove(self, stack: str) -> None:
        try:
            with _mapped(stack, "remove"):
                handle = self._stack(stack, create=False)
                handle.workspace.remove_stack(stack)
        except StackNotFound:
            return
