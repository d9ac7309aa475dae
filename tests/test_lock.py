"""The lock files: the versions CI installs (requirements/dev.txt, `make install`) are the
versions the image runs (requirements/production.txt, deploy/build.sh), each file
checked against its hash, and both within pyproject.toml's ranges."""

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.utils import ROOT


def pins(name: str) -> dict[str, tuple[Version, int]]:
    """package -> (pinned version, number of hashes) of a lock file."""
    text = (ROOT / "requirements" / name).read_text()
    found = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            found[canonicalize_name(match[1])] = (Version(match[2]), block.count("--hash=sha256:"))
    return found


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("production.txt", PROJECT["dependencies"]),
        ("dev.txt", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_dependency_is_pinned_within_its_range_and_hashed(lock, requirements):
    pinned = pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements/{lock}: run make lock"
        version, hashes = pinned[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, str(version))
    assert all(hashes for _version, hashes in pinned.values()), "a pin without a hash"


def test_ci_tests_exactly_the_versions_the_image_runs():
    production, dev = pins("production.txt"), pins("dev.txt")
    differ = {
        name: (str(production[name][0]), str(dev[name][0]))
        for name in production
        if name not in dev or dev[name][0] != production[name][0]
    }
    assert differ == {}
