"""The plan as JSON, described by schemas/plan.schema.json."""

from __future__ import annotations

from reconciler.plan import Plan
from reconciler.planfile import dumps


def render_json(plan: Plan) -> str:
    return dumps(plan)
