"""Maps the folders ``core/`` -> ``uqhpo`` and ``apps/`` -> ``uqhpo.apps`` (see DESIGN.md).

pyproject.toml holds all metadata; this file only lists the renamed packages, which
setuptools' automatic discovery cannot produce.
"""
from setuptools import find_packages, setup

packages = ["uqhpo", *("uqhpo." + p for p in find_packages("core"))]
packages += ["uqhpo.apps", *("uqhpo.apps." + p for p in find_packages("apps"))]

setup(packages=packages, package_dir={"uqhpo": "core", "uqhpo.apps": "apps"})
