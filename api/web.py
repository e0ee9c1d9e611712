"""The Connect page at ``/`` and its static files under ``/static/`` (no build step).

The page gets its own Content-Security-Policy: scripts, styles and fetches from
this origin only, no inline script or style, no frames, no form posts. Every
other response keeps the API's ``default-src 'none'``.

The ES modules (``/static/vaporforge-connect.js`` and what it imports) are also
served with ``Access-Control-Allow-Origin: *``, so a host app on another origin
can import them; they are public code. Calling the API from that origin still
needs ``VF_ALLOWED_ORIGINS``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

STATIC = Path(__file__).resolve().parent / "static"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; "
            "require-trusted-types-for 'script'; trusted-types 'none'")
SERVED = {".js", ".css", ".svg"}

blp = Blueprint("web", __name__)


def _revalidate(response: Response) -> Response:
    # Always ask again (ETag): a new broker version must not run with old modules.
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.get("/")
def page() -> Response:
    """The Connect page."""
    response = send_from_directory(STATIC, "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return _revalidate(response)


@blp.get("/static/<path:filename>")
def static_file(filename: str) -> Response:
    """A module, style sheet or image of the page; nothing else in the folder is served."""
    if Path(filename).suffix not in SERVED:
        raise NotFound()
    response = send_from_directory(STATIC, filename, max_age=0)
    if filename.endswith(".js"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return _revalidate(response)
