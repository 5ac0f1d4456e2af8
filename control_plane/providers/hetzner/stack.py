"""The small interface the ``hetzner`` provider drives Pulumi through: :class:`StackRunner`.

The real implementation (:mod:`.automation`) wraps the Pulumi Automation API, which needs the
Pulumi CLI and the hcloud plugin — neither exists on the build machines, so the provider's
orchestration is tested against a fake of this interface. Automation API failures arrive
here already mapped onto the error classes below; messages are safe to show an admin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from control_plane.domain.health import DriftedResource
from control_plane.errors import ProvisioningFailed

OutputSink = Callable[[str], None]
# where the hcloud resource plugin reads its API token from (its ``hcloud:token`` config,
# which it prefers, is never set: see :class:`StackConfig`)
HCLOUD_TOKEN_ENV = "HCLOUD_TOKEN"  # noqa: S105 (a variable name, not a token)


class StackError(ProvisioningFailed):
    """A stack operation failed."""

    default_code = "STACK_FAILED"


class StackBusy(StackError):
    """Another update holds the stack's lock (Automation API ``ConcurrentUpdateError``):
    nothing was changed; retry later."""

    default_code = "STACK_BUSY"


class StackNotFound(StackError):
    default_code = "STACK_NOT_FOUND"


class StackTimeout(StackError):
    """The operation ran past its deadline and was cancelled."""

    default_code = "STACK_TIMEOUT"


class StackUnavailable(StackError):
    """The Pulumi CLI, plugin or backend cannot be used from this control plane."""

    default_code = "STACK_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class StackConfig:
    """Stack config: ``values`` are plain (``frostbyte:*``, keys fully qualified).

    ``environment`` holds what the Pulumi CLI and its plugins read from their environment,
    secrets included (``HCLOUD_TOKEN``: the hcloud provider's token). A secret never goes
    into stack config: the Automation API sets config with ``pulumi config set-all --secret
    key=value``, a command line any local user reads in ``/proc/<pid>/cmdline``."""

    values: Mapping[str, str]
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines sized for Hetzner: a server is typically up in 60–90 s but creation
    sometimes takes up to 10 minutes; a volume and a network add little."""

    up_s: float = 1500.0
    refresh_s: float = 300.0
    destroy_s: float = 900.0


class StackRunner(Protocol):
    """Runs the ``infra/`` program for one stack. Blocking; output lines go to ``on_output``."""

    def up(self, stack: str, config: StackConfig, on_output: OutputSink,
           timeout_s: float) -> dict[str, Any]:
        """Create or select the stack, set its config, ``up``; the stack's outputs."""
        ...

    def refresh(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        """Bring the stack's state in line with what exists at Hetzner."""
        ...

    def destroy(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        """Destroy every resource of the stack (raises :class:`StackNotFound` if none)."""
        ...

    def drift(self, stack: str, config: StackConfig, on_output: OutputSink,
              timeout_s: float) -> list[DriftedResource]:
        """A preview of ``refresh`` (the state is not written): the cloud resources whose
        real state differs from the stack's record, by URN (raises :class:`StackNotFound`)."""
        ...

    def outputs(self, stack: str) -> dict[str, Any]:
        """The stack's last outputs (raises :class:`StackNotFound`)."""
        ...

    def resources(self, stack: str) -> list[str]:
        """URNs of the cloud resources the stack still holds (raises :class:`StackNotFound`)."""
        ...

    def remove(self, stack: str) -> None:
        """Remove the (empty) stack and its config; idempotent."""
        ...
