"""The offline bundle's errors: one tree, each refusal with its own exit code.

    BundleError                    (FrostbyteError) exit 1
    ├── BuildFailed                BUILD_FAILED: an input of ``build`` is missing or malformed
    ├── BadKey                     BAD_KEY: a key file that is not an Ed25519 key of the form asked
    ├── InstallHomeBroken          INSTALL_HOME (exit 8): the install home cannot be read
    └── BundleRefused              ``verify`` refuses the bundle; ``problems`` + ``hint``
        ├── IntegrityFailed        INTEGRITY (exit 3): missing, unexpected, altered or damaged files
        ├── UnsafeMember           UNSAFE_MEMBER (exit 4): a member that is not a safe regular file
        ├── SignatureInvalid       SIGNATURE (exit 5): not signed by a pinned key, or altered
        ├── NoTrustedKey           NO_TRUSTED_KEY (exit 6): nothing to check the signature against
        └── DowngradeRefused       DOWNGRADE (exit 7): older than the installed release

Every message says what is wrong; every refusal's ``hint`` says what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence

from frostbyte_common.errors import FrostbyteError


class BundleError(FrostbyteError):
    """Base of the offline bundle's errors."""

    default_code = "BUNDLE_ERROR"
    exit_code = 1

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.hint = hint


class BuildFailed(BundleError):
    """An input of the build is missing or malformed (images, model, signatures, key)."""

    default_code = "BUILD_FAILED"


class BadKey(BundleError):
    """A key file that is not what was asked (an Ed25519 PKCS#8 private key, or a public key)."""

    default_code = "BAD_KEY"


class InstallHomeBroken(BundleError):
    """The install home (pinned keys, installed release) exists but cannot be read."""

    default_code = "INSTALL_HOME"
    exit_code = 8


class BundleRefused(BundleError):
    """``verify`` refuses the bundle. ``problems`` lists each finding (capped by the caller)."""

    default_code = "REFUSED"
    #: what the step is called in messages
    step = "verification"

    def __init__(self, message: str, *, problems: Sequence[str] = (), hint: str = "",
                 code: str | None = None) -> None:
        super().__init__(message, hint=hint, code=code)
        self.problems = list(problems)


class IntegrityFailed(BundleRefused):
    default_code = "INTEGRITY"
    exit_code = 3
    step = "integrity"


class UnsafeMember(BundleRefused):
    default_code = "UNSAFE_MEMBER"
    exit_code = 4
    step = "integrity"


class SignatureInvalid(BundleRefused):
    default_code = "SIGNATURE"
    exit_code = 5
    step = "signature"


class NoTrustedKey(BundleRefused):
    default_code = "NO_TRUSTED_KEY"
    exit_code = 6
    step = "signature"


class DowngradeRefused(BundleRefused):
    default_code = "DOWNGRADE"
    exit_code = 7
    step = "version"
