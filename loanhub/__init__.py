"""loanhub: the use cases and services of the integration hub.

Importing the package is free of side effects and heavy imports: ``loanhub.identifiers`` and
``loanhub.masking`` are leaf modules that the lower layers may use (see README, "Layers").
"""

__version__ = "0.1.0"
