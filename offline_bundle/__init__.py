"""The air-gapped bundle (SPEC §7): one signed tar with the data-plane images and all they need.

Pure parts (no I/O):

    manifest   the manifest's fields, canonical bytes, aggregate checksum, safe member names
    checks     integrity (members, files vs manifest) and the signature check, as functions
    policy     the version policy (no downgrade unless asked for)
    errors     the error tree; each refusal has its own exit code

I/O around them:

    keys       Ed25519 keys: load, fingerprint, sign, the checkout's development key
    home       the install home: pinned keys, installed and previous release
    verify     one streaming pass over the tar, then the three checks in order
    inputs     what a build packs: image archives + inventories, model, ClamAV signatures
    sbom       one CycloneDX SBOM per image (needs cyclonedx-python-lib, a dev dependency)
    build      writes the tar in one streaming pass, the signed manifest last
    __main__   ``python -m offline_bundle build`` (``make bundle``)

The ``frostbyte bundle`` commands (:mod:`frostbyte_cli.bundle_commands`) verify a bundle,
pin release keys and show the install status; they need only the core dependencies.
"""
