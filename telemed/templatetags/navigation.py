"""The page frame's tags (issue 11: what ``base.html`` does on every page, done once where it can be).

``{% nav_links links %}`` writes the menu's links in Python: one ``{% include %}`` per link cost more
than the rest of the frame. The HTML is what the former ``_nav_link.html`` wrote, byte for byte
(``tests/telemed/test_navigation.py``). ``{% fixed_url name %}`` is ``{% url name %}`` for a route
without arguments, reversed once per process. ``{% per_language %}…{% endper_language %}`` writes a part
of the frame that depends on nothing but the language (its ``{% trans %}`` texts and fixed links) once per
language and URL prefix, and the same text afterwards.
"""

import html

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf
from django.utils import translation
from django.utils.functional import Promise
from django.utils.safestring import mark_safe

from telemed import navigation

register = template.Library()

CURRENT_PAGE = ' class="current" aria-current="page"'
CURRENT_SECTION = ' class="current"'


@register.simple_tag
def fixed_url(name: str) -> str:
    return navigation.fixed_url(name)


def current_mark(url: str, *, path: str, url_name: str | None, home: str, facility_list: str) -> str:
    """The entry of the page shown is current; so is the entry of the section the page belongs to
    (its URL a prefix of the path, the start page excepted), and 医疗机构 for every facility page."""
    if url == path:
        return CURRENT_PAGE
    if url == facility_list:
        return CURRENT_SECTION if url_name and "facility-" in url_name else ""
    if url != home and url in path:
        return CURRENT_SECTION
    return ""


def _escaped(value) -> str:
    """``conditional_escape`` without its lazy-argument wrapper (a label may be a lazy translation)."""
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


@register.simple_tag(takes_context=True)
def nav_links(context, links) -> str:
    request = context["request"]
    match = request.resolver_match
    home, facility_list = navigation.fixed_url("home"), navigation.fixed_url("facilities:facility-list")
    path, url_name = request.path, match.url_name if match is not None else None
    return mark_safe("".join(  # noqa: S308 - every part is escaped here
        f'<li><a href="{_escaped(url)}"'
        f'{current_mark(url, path=path, url_name=url_name, home=home, facility_list=facility_list)}>'
        f"{_escaped(label)}</a></li>\n"
        for label, url in links
    ))


@register.simple_tag(takes_context=True)
def nav_groups(context, groups) -> str:
    """The regulators' grouped menu: what ``base.html``'s former ``{% for group, members in nav_groups %}``
    loop wrote around ``{% nav_links members %}``, byte for byte (issue 11: the loop, its counters and
    its variables cost more than the links; ``tests/telemed/test_navigation.py`` compares the two)."""
    return mark_safe("".join(  # noqa: S308 - the label is escaped here, the links by nav_links
        f'\n            <li class="nav-group"><span class="nav-group-label" id="nav-group-{counter}">{_escaped(group)}</span>'
        f'\n              <ul aria-labelledby="nav-group-{counter}">\n                {nav_links(context, members)}'
        "\n              </ul>\n            </li>\n          "
        for counter, (group, members) in enumerate(groups, start=1)
    ))


_settings_generation = [0]  # any setting changed (tests only): every part is written afresh
_PER_LANGUAGE_KEPT = 32  # texts kept per part: languages × URL prefixes, a handful in practice


@receiver(setting_changed)
def _forget_written(**kwargs):
    _settings_generation[0] += 1


class PerLanguageNode(template.Node):
    """Its content, rendered once per language, URL prefix, URL configuration and escaping (issue 11).

    Only for a part whose text depends on nothing else: ``{% trans %}``/``{% blocktrans %}`` of fixed texts,
    ``{% fixed_url %}``, the settings' languages. Its content renders in a pushed context, so a variable it
    sets does not outlive it (the same on every request, whether written or kept)."""

    def __init__(self, nodelist):
        self.nodelist = nodelist
        self.written: dict[tuple, str] = {}

    def render(self, context):
        key = (translation.get_language(), get_script_prefix(), get_urlconf(), context.autoescape, _settings_generation[0])
        text = self.written.get(key)
        if text is None:
            with context.push():
                text = self.nodelist.render(context)
            if len(self.written) >= _PER_LANGUAGE_KEPT:
                self.written.clear()
            self.written[key] = text
        return text


@register.tag
def per_language(parser, token):
    if len(token.split_contents()) != 1:
        raise template.TemplateSyntaxError("'per_language' takes no arguments")
    nodelist = parser.parse(("endper_language",))
    parser.delete_first_token()
    return PerLanguageNode(nodelist)
