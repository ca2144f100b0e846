"""Template helpers of the start page (templates/home.html). Presentational: they read what the
view and the context processors gave them and never write."""

from __future__ import annotations

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def quick_links(nav_items) -> SafeString:
    """常用功能: every navigation item but the first (the start page itself) as ``<li>`` links, escaped
    as the template loop they replace escaped them (a label marked safe, such as the notifications
    label with its unread count, stays as it is). Built here: the loop cost the start page more than
    its queries (issue 11)."""
    return mark_safe("".join(  # noqa: S308 - every part escaped
        f'<li><a href="{conditional_escape(url)}">{conditional_escape(label)}</a></li>' for label, url in list(nav_items)[1:]
    ))
