"""The menu (telemed.navigation): built once per kind of user and language, the user's own parts per
request; its links written in Python exactly as the former ``_nav_link.html`` include wrote them."""

from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import resolve, reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from facilities.choices import StaffRole
from telemed import navigation as nav
from tests.factories import FacilityFactory, regulator, staff

pytestmark = pytest.mark.django_db

# What base.html did before ``{% nav_links %}``: the two URLs, then one include per link.
FORMER = (
    "{% url 'home' as home_url %}{% url 'facilities:facility-list' as facility_list_url %}"
    "{% for label, url in links %}"
    '<li><a href="{{ url }}"{% if request.path == url %} class="current" aria-current="page"{% elif url == facility_list_url %}'
    '{% if "facility-" in request.resolver_match.url_name %} class="current"{% endif %}{% elif url != home_url and url in request.path %}'
    ' class="current"{% endif %}>{{ label }}</a></li>\n'
    "{% endfor %}"
)


def _links():
    return [
        ("首页", reverse("home")),
        ("远程会诊", reverse("consultations:list") + "?side=inviting"),
        ("医疗机构", reverse("facilities:facility-list")),
        ("监管统计", reverse("facilities:metrics")),
        ("违规记录", reverse("consultations:violation-list")),
        (gettext_lazy("价格标准"), reverse("billing:standard-list")),
        (format_html('{} <span class="nav-count" aria-label="{}">{}</span>', "通知", "未读", 3),
         reverse("consultations:notification-list")),
        ('<script>alert("x")</script> & \'引号\'', '/x/?a=1&b="2"'),
    ]


@pytest.mark.parametrize("path", [
    "/", "/facilities/", "/facilities/7/", "/facilities/metrics/", "/facilities/metrics/facilities/7/",
    "/consultations/violations/", "/billing/standards/", "/consultations/notifications/", None,
])
def test_nav_links_write_what_the_former_include_wrote(rf, path):
    request = rf.get(path or "/not-a-route/")
    request.resolver_match = resolve(path) if path else None
    context = {"request": request, "links": _links()}
    former = Template(FORMER).render(Context(context))
    now = Template("{% load navigation %}{% nav_links links %}").render(Context(context))
    assert now == former
    assert "<script>" not in now and "&lt;script&gt;alert(&quot;x&quot;)" in now and "&#x27;引号&#x27;" in now
    assert '<span class="nav-count" aria-label="未读">3</span>' in now


def _menu(user, *, remembered=None, language="zh-hans"):
    from django.test import RequestFactory

    request = RequestFactory().get("/facilities/")
    request.user = user
    request.session = {} if remembered is None else {nav.UNREAD_SESSION_KEY: remembered}
    with translation.override(language):
        context = nav.navigation(request)
        return [(str(label), url) for label, url in context["nav_items"]], context


def test_the_menu_is_built_once_per_kind_of_user_and_language_and_the_count_is_each_users_own():
    first, second = FacilityFactory(), FacilityFactory()
    one, other = staff(first, StaffRole.COORDINATOR), staff(second, StaffRole.COORDINATOR)
    nav._menu.cache_clear()
    mine, _context = _menu(one, remembered=4)
    theirs, _context = _menu(other)
    assert nav._menu.cache_info().misses == 1 and nav._menu.cache_info().hits == 1
    notifications = reverse("consultations:notification-list")
    assert ('通知 <span class="nav-count" aria-label="未读">4</span>', notifications) in mine
    assert ("通知", notifications) in theirs
    assert [entry for entry in mine if entry[1] != notifications] == [entry for entry in theirs if entry[1] != notifications]
    english, _context = _menu(other, language="en")
    assert nav._menu.cache_info().misses == 2
    assert ("Notifications", notifications) in english and ("Home", reverse("home")) in english


def test_each_facility_administrator_keeps_the_statistics_of_their_own_facility():
    first, second = FacilityFactory(), FacilityFactory()
    for facility in (first, second):
        items, _context = _menu(staff(facility, StaffRole.FACILITY_ADMIN))
        assert ("本机构统计", reverse("facilities:metrics-facility", args=[facility.pk])) in items


def test_the_regulators_menu_keeps_its_groups_and_the_count():
    items, context = _menu(regulator("220000"), remembered=2)
    groups = {group: [label for label, _url in members] for group, members in context["nav_groups"]}
    assert list(groups) == ["常用", "监管统计", "机构与人员", "费用", "病历与审计"]
    assert groups["常用"] == ["首页", '通知 <span class="nav-count" aria-label="未读">2</span>']
    assert sum(len(members) for members in groups.values()) == len(items)


# What base.html's grouped menu did before ``{% nav_groups %}``: one loop around ``{% nav_links %}``.
FORMER_GROUPS = (
    "{% load navigation %}"
    '<ul class="nav-groups">\n          {% for group, members in nav_groups %}\n'
    '            <li class="nav-group"><span class="nav-group-label" id="nav-group-{{ forloop.counter }}">{{ group }}</span>\n'
    '              <ul aria-labelledby="nav-group-{{ forloop.counter }}">\n'
    "                {% nav_links members %}\n"
    "              </ul>\n"
    "            </li>\n"
    "          {% endfor %}\n        </ul>"
)


@pytest.mark.parametrize("path", ["/consultations/violations/", "/facilities/7/", None])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_nav_groups_write_what_the_former_loop_wrote(rf, path, language):
    request = rf.get(path or "/not-a-route/")
    request.resolver_match = resolve(path) if path else None
    links = _links()
    groups = [(gettext_lazy("常用"), links[:3]), ('<b>"组" & \'x\'\u202e</b>', links[3:6]), ("空", []),
              (format_html("<i>{}</i>", "<安全>"), links[6:])]
    context = {"request": request, "nav_groups": groups}
    with translation.override(language):
        former = Template(FORMER_GROUPS).render(Context(context))
        now = Template('{% load navigation %}<ul class="nav-groups">\n          {% nav_groups nav_groups %}\n        </ul>').render(
            Context(context))
    assert now == former
    assert "&lt;b&gt;&quot;组&quot; &amp; &#x27;x&#x27;" in now and "<i>&lt;安全&gt;</i>" in now and 'id="nav-group-4"' in now


def test_a_regulators_page_frame_is_what_the_former_loop_wrote(client):
    """base.html with the tag and with the former loop, rendered with a regulator page's own context."""
    from django.template import engines

    client.force_login(regulator("220000"))
    response = client.get(reverse("consultations:violation-list"))
    assert response.status_code == 200
    engine = engines["django"]
    source = Path(engine.engine.find_template("base.html")[1].name).read_text(encoding="utf-8")
    tag = '<ul class="nav-groups">\n          {% nav_groups nav_groups %}\n        </ul>'
    assert tag in source
    former = source.replace(tag, FORMER_GROUPS.removeprefix("{% load navigation %}"))
    context = response.context[0].flatten()
    context.pop("csrf_token", None)  # a fresh mask each time: left out of both renderings
    now, before = (engine.from_string(text).template.render(Context(context)) for text in (source, former))
    assert 'class="nav-group"' in now and now == before


def _without_per_language(source: str) -> str:
    return source.replace("{% per_language %}", "").replace("{% endper_language %}", "")


@pytest.mark.parametrize("who", ["anonymous", "staff", "regulator"])
def test_the_frame_written_once_per_language_is_what_it_wrote_each_time(client, who):
    """base.html's ``{% per_language %}`` parts: the page's own context rendered with them and without them,
    in both languages, alternately (the second of each from what was kept), with a hostile user name."""
    from django.template import engines

    hostile = {"first_name": '<b>"张&三\u202e', "last_name": "'</script>"}
    if who == "staff":
        client.force_login(staff(FacilityFactory(), StaffRole.COORDINATOR, **hostile))
    elif who == "regulator":
        client.force_login(regulator("220000", **hostile))
    response = client.get(reverse("home") if who != "anonymous" else reverse("login"))
    assert response.status_code == 200
    engine = engines["django"]
    source = Path(engine.engine.find_template("base.html")[1].name).read_text(encoding="utf-8")
    assert source.count("{% per_language %}") == source.count("{% endper_language %}") >= 5
    context = response.context[0].flatten()
    context.pop("csrf_token", None)  # a fresh mask each time: left out of both renderings
    kept, each_time = engine.from_string(source).template, engine.from_string(_without_per_language(source)).template
    written = {}
    for language in ("zh-hans", "en", "zh-hans", "en"):
        with translation.override(language):
            now, before = kept.render(Context(context)), each_time.render(Context(context))
        assert now == before
        assert written.setdefault(language, now) == now
    assert written["zh-hans"] != written["en"] and "跳到正文" in written["zh-hans"]
    if who != "anonymous":
        assert "&lt;b&gt;&quot;张&amp;三" in written["en"] and "修改密码" in written["zh-hans"]


def test_a_part_written_once_is_written_afresh_under_another_url_prefix(rf):
    from django.urls import set_script_prefix

    template = Template("{% load i18n navigation %}{% per_language %}{% fixed_url 'home' %}|{% trans '通知' %}{% endper_language %}")
    try:
        set_script_prefix("/portal/")
        prefixed = template.render(Context({}))
    finally:
        set_script_prefix("/")
    assert prefixed.startswith("/portal/") and template.render(Context({})).startswith("/|")
