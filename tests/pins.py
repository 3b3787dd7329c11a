"""The `package==version` pins of a requirements file in the repository."""
import re

from lib.paths import REPO_ROOT


def pins(name: str) -> dict[str, str]:
    """Lower-cased package name -> pinned version, for every `name==version` line of requirements file `name`."""
    text = (REPO_ROOT / name).read_text()
    return {package.lower(): version for package, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", text, re.M)}
