"""``/files``: the files taken from legacy systems (loaded, partial, rejected and why) and
the records their contracts refused, by field or rule."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from loanhub.dashboard import charts, figures
from loanhub.dashboard.deps import Render, Store
from loanhub.dashboard.i18n import N_

router = APIRouter()


@router.get("/files", response_class=HTMLResponse)
def files_page(render: Render, store: Store) -> HTMLResponse:
    found = figures.files(store)
    return render(
        "files.html",
        active="files",
        found=found,
        state_chart=charts.hbar(N_("Files by state"), sorted(found.by_state.items())),
        reason_chart=charts.hbar(
            N_("Quarantined records by field or rule"),
            found.quarantine_reasons.most_common(12),
        ),
    )
