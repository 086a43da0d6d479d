"""The case file of one application: everything the store keeps about it, on one page.

``model.build`` reads it from the store (nothing is invented: what is not stored is said so),
``render`` draws it with one template for the dashboard and for a self-contained HTML file,
``lookup`` finds an application by its number or, for operators, by the applicant's ID.
"""

from __future__ import annotations

from loanhub.flows.casefile.model import CaseFile, CaseNotFound, build

__all__ = ["CaseFile", "CaseNotFound", "build"]
