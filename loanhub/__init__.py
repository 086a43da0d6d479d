"""loanhub: the use cases and services of the integration hub.

Importing the package is free of side effects and heavy imports.
"""

__version__ = "0.1.0"
