"""``GET /api/auth/modes``: the login modes this deployment offers (``VF_MODES``).

Public and the same for every caller, so browsers and proxies may cache it for
:data:`MAX_AGE` seconds; limited per client network like ``/readyz``.
"""

from __future__ import annotations

import logging

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import api_context
from api.schemas import ErrorSchema, ModesSchema
from vaporforge.session.states import LoginMode
from vaporforge.settings import Settings

log = logging.getLogger("vaporforge.api")

MAX_AGE = 300
"""Seconds a client may reuse the answer; a changed VF_MODES shows within this."""
TERMS = "README.md, section \"Before you offer it\""
SUBSCRIPTION = (LoginMode.OAUTH, LoginMode.SETUP_TOKEN)

blp = Blueprint("modes", __name__, url_prefix="/api/auth/modes",
                description="The sign-in modes this deployment offers")


@blp.route("")
class Modes(MethodView):
    @blp.response(200, ModesSchema, headers={"Cache-Control": {
        "description": f"public, max-age={MAX_AGE}", "schema": {"type": "string"}}})
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="listModes")
    def get(self) -> Response:
        """The modes a creation may ask for (``VF_MODES``), the one to preselect first."""
        response = jsonify({"modes": [m.value for m in api_context().settings.modes]})
        response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
        return response


def announce(settings: Settings) -> None:
    """The one start-up line naming the modes on offer; it points operators to
    the terms section whenever a subscription sign-in is among them."""
    names = ", ".join(m.value for m in settings.modes)
    subscription = [m.value for m in settings.modes if m in SUBSCRIPTION]
    if subscription:
        log.info("sign-in modes offered: %s; %s sign in with a Claude subscription, which "
                 "Anthropic's terms do not permit third-party products to offer: read %s "
                 "(VF_MODES=console offers the Console sign-in only)", names,
                 " and ".join(subscription), TERMS)
    else:
        log.info("sign-in modes offered: %s", names)
