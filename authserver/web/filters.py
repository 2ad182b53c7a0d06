"""Template filters: ``utc`` and ``ago`` for instants, ``device`` for a User-Agent, ``event_detail``
for a security event's JSON detail, ``scope_words`` for a scope in words."""

from __future__ import annotations

import json

from ..scopes import describe_held
from ..services import current_services
from ..sessions.user_agents import describe_user_agent
from .blueprint import bp


@bp.app_template_filter("utc")
def format_utc(instant) -> str:
    return instant.strftime("%-d %b %Y, %H:%M UTC") if instant else ""


@bp.app_template_filter("ago")
def format_ago(instant) -> str:
    if instant is None:
        return ""
    seconds = int((current_services().clock.now() - instant).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


@bp.app_template_filter("device")
def describe_device(user_agent):
    return describe_user_agent(user_agent)


@bp.app_template_filter("event_detail")
def event_detail(raw: str | None) -> dict:
    try:
        detail = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


@bp.app_template_filter("scope_words")
def scope_words(scope: str | None, restricted: bool = False) -> list[tuple[str, str]]:
    """(scope, its description) pairs (``scopes.DESCRIPTIONS``); a restricted session's without the account scopes."""
    return describe_held(scope, restricted)
