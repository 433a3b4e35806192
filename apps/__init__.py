"""Case studies built on uqhpo; each sub-package is also a template for new apps."""
