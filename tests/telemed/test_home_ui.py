"""Issue 11: the start page's quick links (常用功能) are built by the ``quick_links`` filter instead of a
template loop; the HTML must be what the loop made, escaping included."""

from __future__ import annotations

from django.template import engines
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from telemed.templatetags.home_ui import quick_links

LOOP = """{% for label, url in nav_items|slice:"1:" %}<li><a href="{{ url }}">{{ label }}</a></li>{% endfor %}"""


def test_issue_11_quick_links_are_the_html_the_loop_made():
    items = [
        (gettext_lazy("首页"), "/"),
        (gettext_lazy("查找"), "/consultations/search/?a=1&b=2"),
        (mark_safe('通知 <span class="nav-count" aria-label="未读">3</span>'), "/consultations/notifications/"),
        ('<script>"x"</script> & \'y\'', '/x/?q="&<>'),
    ]
    old = engines["django"].from_string(LOOP)
    built = quick_links(items)
    assert built == old.render({"nav_items": items})
    assert '<span class="nav-count" aria-label="未读">3</span>' in built and "<script>" not in built
    assert "&lt;script&gt;&quot;x&quot;&lt;/script&gt; &amp; &#x27;y&#x27;" in built and "?a=1&amp;b=2" in built
    assert quick_links(items[:1]) == quick_links([]) == old.render({"nav_items": []}) == ""
