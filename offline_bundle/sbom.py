"""One CycloneDX SBOM (JSON, schema 1.6) per image, from the image's inventory.

The image is the BOM's metadata component (type ``container``); its components are the
Debian packages (``pkg:deb/debian/NAME@VERSION?arch=ARCH``) and the Python distributions
(``pkg:pypi/NAME@VERSION``, the name normalised as the purl spec asks: lowercase, ``_`` and
``.`` as ``-``); the image depends on each of them. Deterministic for the same inputs: the
serial number is a UUIDv5 of the bundle version, image name and digest, and the timestamp
is the bundle's build time.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from offline_bundle.inputs import ImageInput, Package

SCHEMA = SchemaVersion.V1_6
_PYPI_SEPARATORS = re.compile(r"[-_.]+")


def debian_purl(package: Package) -> PackageURL:
    qualifiers = {"arch": package.arch} if package.arch else None
    return PackageURL(type="deb", namespace="debian", name=package.name,
                      version=package.version, qualifiers=qualifiers)


def pypi_purl(package: Package) -> PackageURL:
    name = _PYPI_SEPARATORS.sub("-", package.name).lower()
    return PackageURL(type="pypi", name=name, version=package.version)


def _component(purl: PackageURL, package: Package) -> Component:
    text = purl.to_string()
    return Component(name=package.name, version=package.version, purl=purl, bom_ref=text,
                     type=ComponentType.LIBRARY if purl.type == "pypi"
                     else ComponentType.APPLICATION)


def image_sbom(image: ImageInput, *, bundle_version: str, created: datetime) -> bytes:
    """The SBOM of ``image`` as UTF-8 JSON bytes."""
    subject = Component(name=image.name, version=bundle_version, type=ComponentType.CONTAINER,
                        bom_ref=f"image:{image.name}", description=f"{image.ref} ({image.id})")
    components: dict[str, Component] = {}
    for package in image.debian:
        purl = debian_purl(package)
        components.setdefault(purl.to_string(), _component(purl, package))
    for package in image.python:
        purl = pypi_purl(package)
        components.setdefault(purl.to_string(), _component(purl, package))
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"frostbyte-bundle:{bundle_version}:{image.name}:"
                                            f"{image.digest}")
    bom = Bom(serial_number=serial, metadata=BomMetaData(component=subject, timestamp=created),
              components=[components[k] for k in sorted(components)])
    # the image holds every package: the dependency graph's root, for the SBOM consumers
    bom.register_dependency(subject, [components[k] for k in sorted(components)])
    text = make_outputter(bom, OutputFormat.JSON, SCHEMA).output_as_string(indent=2)
    return text.encode("utf-8") + b"\n"
