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

from control_plane.errors import ProvisioningFailed

OutputSink = Callable[[str], None]


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
    """Stack config: ``values`` are plain (``frostbyte:*``), ``secrets`` are set with
    ``secret=True`` (encrypted in the stack state by Pulumi). Keys are fully qualified."""

    values: Mapping[str, str]
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


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

    def outputs(self, stack: str) -> dict[str, Any]:
        """The stack's last outputs (raises :class:`StackNotFound`)."""
        ...

    def resources(self, stack: str) -> list[str]:
        """URNs of the cloud resources the stack still holds (raises :class:`StackNotFound`)."""
        ...

    def remove(self, stack: str) -> None:
        """Remove the (empty) stack and its config; idempotent."""
        ...
