"""Maps the folders ``core/`` -> ``uqhpo`` and ``apps/`` -> ``uqhpo.apps`` (see DESIGN.md).

pyproject.toml holds all metadata; this file only lists the renamed packages, which
setuptools' automatic discovery cannot produce. Namespace discovery also lists data
folders such as ``apps/template/configs`` so their YAML files ship with the package.
"""
from setuptools import find_namespace_packages, setup

_SKIP = ["*__pycache__*", "*.egg-info*"]
packages = ["uqhpo", *("uqhpo." + p for p in find_namespace_packages("core", exclude=_SKIP))]
packages += ["uqhpo.apps", *("uqhpo.apps." + p for p in find_namespace_packages("apps", exclude=_SKIP))]

setup(packages=packages, package_dir={"uqhpo": "core", "uqhpo.apps": "apps"},
      package_data={"": ["*.yaml", "*.md"]})
