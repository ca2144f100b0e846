"""The facilities and physicians rulebook as pure functions (JL-F1..F5, JL-P1..P6).

Each function takes plain values or (possibly unsaved) model instances and returns a list of
``Check``: one per rule it covers, passed or failed, with the rule ID and article. None of them
reads the database or the clock; the caller passes the date or time that matters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from django.utils.translation import gettext_noop

from telemed.checks import Check

from .choices import (
    TITLE_SERIES,
    AccreditationCondition,
    AccreditationStatus,
    ActingRole,
    AdminRole,
    AgreementStatus,
    AssetStatus,
    FacilityLevel,
    ImagingModality,
    PracticeScope,
    ServiceCategory,
    StaffRole,
    Title,
    TitleSeries,
)

JILIN_PREFIX = "22"


# --- Facilities -------------------------------------------------------------------------------


def participation_checks(*, accreditation_status: str, suspended: bool) -> list[Check]:
    """JL-F1 and JL-F5: may this facility take part in telemedicine at all, right now?"""
    return [
        Check(
            "JL-F1",
            gettext_noop("第十条、第十三条"),
            gettext_noop("须通过省卫生健康委远程医疗服务专业技术能力评估验收"),
            accreditation_status == AccreditationStatus.APPROVED,
            "" if accreditation_status == AccreditationStatus.APPROVED else f"当前状态：{AccreditationStatus(accreditation_status).label}",
        ),
        Check(
            "JL-F5",
            gettext_noop("第三十四条"),
            gettext_noop("机构未处于暂停远程医疗服务状态"),
            not suspended,
            "已暂停，须经发证机关解除" if suspended else "",
        ),
    ]


def invited_facility_checks(*, invited, inviting, has_agreement: bool, on: date) -> list[Check]:
    """JL-F2 (art. 12, 16): the invited facility's licence, level and location."""
    licence_ok = invited.licence_expires_on is not None and invited.licence_expires_on >= on
    level_ok = invited.level in (FacilityLevel.LEVEL_2, FacilityLevel.LEVEL_3)
    in_jilin = invited.division_id.startswith(JILIN_PREFIX)
    inviting_in_jilin = inviting.division_id.startswith(JILIN_PREFIX)
    place_ok = in_jilin or (inviting_in_jilin and has_agreement)
    return [
        Check(
            "JL-F2",
            gettext_noop("第十二条"),
            gettext_noop("受邀方须持有有效的《医疗机构执业许可证》"),
            licence_ok,
            "" if licence_ok else f"许可证有效期至 {invited.licence_expires_on}",
        ),
        Check(
            "JL-F2",
            gettext_noop("第十二条"),
            gettext_noop("受邀方须为二级以上医疗机构"),
            level_ok,
            "" if level_ok else f"现为{FacilityLevel(invited.level).label}",
        ),
        Check(
            "JL-F2",
            gettext_noop("第十二条、第十六条"),
            gettext_noop("受邀方须在本省，或与本省邀请方签有合作协议"),
            place_ok,
            "" if place_ok else "省外机构未与本省邀请方签署合作协议",
        ),
    ]


def agreement_covers(
    *, status: str, valid_from: date, valid_until: date, service_codes: Iterable[str], service_code: str, on: date
) -> Check:
    """JL-F3 (art. 15): an active agreement covering this service type on this date."""
    if status != AgreementStatus.ACTIVE:
        return Check("JL-F3", gettext_noop("第十五条"), gettext_noop("须有覆盖该服务项目的有效合作协议"), False, "协议已终止")
    if not (valid_from <= on <= valid_until):
        return Check("JL-F3", gettext_noop("第十五条"), gettext_noop("须有覆盖该服务项目的有效合作协议"), False, f"协议有效期为 {valid_from} 至 {valid_until}")
    if service_code not in set(service_codes):
        return Check("JL-F3", gettext_noop("第十五条"), gettext_noop("须有覆盖该服务项目的有效合作协议"), False, "协议未包含该服务项目")
    return Check("JL-F3", gettext_noop("第十五条"), gettext_noop("须有覆盖该服务项目的有效合作协议"), True)


def agreement_checks(agreements: Sequence[dict], *, service_code: str, on: date) -> list[Check]:
    """JL-F3 over every agreement between a pair: passes if any one covers the service on that day.

    Each agreement is a dict with ``status``, ``valid_from``, ``valid_until``, ``service_codes``.
    """
    if not agreements:
        return [Check("JL-F3", gettext_noop("第十五条"), gettext_noop("须有覆盖该服务项目的有效合作协议"), False, "双方未签署远程医疗合作协议")]
    results = [agreement_covers(service_code=service_code, on=on, **a) for a in agreements]
    passing = [r for r in results if r.passed]
    return [passing[0]] if passing else [results[0]]


def agreement_terms_checks(
    *, inviting_id: int, invited_id: int, valid_from: date, valid_until: date, inviting_share: int, invited_share: int,
    service_codes: Iterable[str], texts: dict[str, str],
) -> list[Check]:
    """JL-F3 (art. 15): what an agreement must state before it can be registered."""
    missing = [label for label, text in texts.items() if not (text or "").strip()]
    return [
        Check("JL-F3", gettext_noop("第十五条"), gettext_noop("协议双方须为两家不同机构"), inviting_id != invited_id),
        Check("JL-F3", gettext_noop("第十五条"), gettext_noop("协议有效期须起止有序"), valid_until >= valid_from, f"{valid_from} 至 {valid_until}"),
        Check("JL-F3", gettext_noop("第十五条"), gettext_noop("须至少约定一项服务项目"), bool(list(service_codes))),
        Check(
            "JL-F3",
            gettext_noop("第十五条"),
            gettext_noop("须约定合作目的、条件、流程、权利义务、风险和责任分担"),
            not missing,
            ("缺少：" + "、".join(missing)) if missing else "",
        ),
        Check(
            "JL-B3",
            gettext_noop("第四十四条"),
            gettext_noop("协商项目分配比例须为非负整数且不全为零"),
            inviting_share >= 0 and invited_share >= 0 and inviting_share + invited_share > 0,
            f"{inviting_share}:{invited_share}",
        ),
    ]


def accreditation_completeness(conditions_present: Iterable[str]) -> list[Check]:
    """JL-F1 (art. 13): an application carries all seven conditions, each with evidence."""
    present = set(conditions_present)
    return [
        Check("JL-F1", "第十三条", str(condition.label), condition.value in present, "" if condition.value in present else "缺少情况说明或证明材料")
        for condition in AccreditationCondition
    ]


def duty_coverage(shifts: Iterable, *, at: datetime, scope: str) -> Check:
    """JL-F4 (art. 24): someone qualified for ``scope`` is on duty at ``at``.

    ``shifts`` are objects with ``starts_at``, ``ends_at``, ``scope`` and a boolean
    ``qualified`` (the caller ran the JL-P checks for the physician on that shift).
    """
    covering = [s for s in shifts if s.starts_at <= at < s.ends_at and s.scope == scope and s.qualified]
    return Check(
        "JL-F4",
        gettext_noop("第二十四条"),
        gettext_noop("受邀方须安排具备资质的专业人员24小时值班"),
        bool(covering),
        "" if covering else f"{at:%Y-%m-%d %H:%M} 无{PracticeScope(scope).label}值班人员",
    )


def suspension_lift_check(*, issuing_division_code: str, regulator_division_codes: Iterable[str]) -> Check:
    """JL-F5 (art. 34): only the regulator that issued the facility's licence lifts a suspension."""
    allowed = issuing_division_code in set(regulator_division_codes)
    return Check(
        "JL-F5",
        gettext_noop("第三十四条"),
        gettext_noop("只有核发执业许可证的卫生健康行政部门可以解除暂停"),
        allowed,
        "" if allowed else f"发证机关区划为 {issuing_division_code}",
    )


def service_type_checks(*, code: str, name: str, category: str, required_scope: str) -> list[Check]:
    """JL-C1 (art. 3) and JL-P5: a service type the provincial regulator adds. A diagnosis type names
    the scope of practice its reports need (JL-P5 checks experts against it); an opinion type does
    not (its experts are checked against the speciality the request wants)."""
    diagnosis = category == ServiceCategory.DIAGNOSIS
    return [
        Check(
            "JL-C1",
            gettext_noop("第三条"),
            gettext_noop("须填写服务项目编码（小写字母、数字、下划线，2至40位）和名称"),
            bool(re.fullmatch(r"[a-z0-9_]{2,40}", code)) and bool(name.strip()),
        ),
        Check("JL-C1", gettext_noop("第三条"), gettext_noop("须选择服务类别（会诊类或诊断类）"), category in ServiceCategory.values),
        Check(
            "JL-P5",
            gettext_noop("第十四条第五项"),
            gettext_noop("诊断类项目须指定签发报告所需的执业范围；会诊类项目不指定"),
            bool(required_scope) == diagnosis and (not required_scope or required_scope in PracticeScope.values),
            "" if bool(required_scope) == diagnosis else ("诊断类项目未指定执业范围" if diagnosis else "会诊类项目按邀请方所需专业核对，不指定执业范围"),
        ),
    ]


# --- Physicians -------------------------------------------------------------------------------


def is_associate_senior_or_above(title: int) -> bool:
    """GB/T 8561: codes x1 (正高) and x2 (副高) in the four health series (any series)."""
    return title // 10 in TITLE_SERIES and title % 10 in (1, 2)


def is_physician_title(title: int) -> bool:
    """GB/T 8561 医师系列 (231..235). JL-P4: experts come from this series only — the rulebook
    lets physicians sign opinions and reports, not nurses, pharmacists or technicians."""
    return TITLE_SERIES.get(title // 10) == TitleSeries.PHYSICIAN


def expert_title_check(title: int) -> Check:
    """JL-P4 (art. 14.4): 副主任医师 or 主任医师; another series is refused as such, not as too junior."""
    label = Title(title).label if title in Title.values else str(title)
    if not is_physician_title(title):
        return Check("JL-P4", gettext_noop("第十四条第四项"), gettext_noop("须具备副高及以上相关医学专业职称"), False, f"非医师系列职称：{label}")
    senior = is_associate_senior_or_above(title)
    return Check("JL-P4", gettext_noop("第十四条第四项"), gettext_noop("须具备副高及以上相关医学专业职称"), senior, "" if senior else f"现为{label}")


def title_meets_wanted(*, title: int, wanted_title: int) -> bool:
    """JL-C4: when the invitation asks for 副高 or 正高, the expert's title is at least that level."""
    return not (is_associate_senior_or_above(wanted_title) and title % 10 > wanted_title % 10)


def expert_scopes(
    *, category: str, required_scope: str, modality: str, wanted_scope: str | None, ecg_scopes: Sequence[str]
) -> tuple[str, ...]:
    """JL-P5 (art. 14.5): the scopes of practice of which an expert must hold one for this case.

    An opinion service (consultation, outpatient, case discussion) is checked against the
    speciality the inviting side asked for (``wanted_scope``, JL-C4). A diagnosis service is
    checked against what the service itself needs — the service type's ``required_scope``
    (imaging → 医学影像和放射治疗专业, pathology and laboratory → 医学检验、病理专业), and for ECG
    the scopes the province chose (``ecg_scopes``, setting ``TELEMED_ECG_SCOPES``). The wanted
    speciality may narrow that choice (ECG read by 内科 only) but never replace it: a wanted
    speciality outside it is ignored, so typing "内科" does not let an internist sign an imaging
    report. A diagnosis type without a required scope falls back to the wanted speciality.
    """
    if category != ServiceCategory.DIAGNOSIS:
        return (wanted_scope,) if wanted_scope else ()
    if modality == ImagingModality.ECG and ecg_scopes:
        allowed = tuple(ecg_scopes)
    elif required_scope:
        allowed = (required_scope,)
    else:
        return (wanted_scope,) if wanted_scope else ()
    return (wanted_scope,) if wanted_scope in allowed else allowed


def qualification_entry_checks(
    *, qualification_obtained_on: date | None, registered_on: date | None, registration_valid_until: date | None, today: date
) -> list[Check]:
    """JL-P1, JL-P2 (art. 14.1, 14.2): dates as entered must make sense — a qualification is not
    obtained in the future, and a registration does not end before it starts."""
    checks = []
    if qualification_obtained_on is not None:
        ok = qualification_obtained_on <= today
        checks.append(
            Check("JL-P1", gettext_noop("第十四条第一项"), gettext_noop("取得执业资格日期不能晚于今天"), ok, "" if ok else f"填写的日期为 {qualification_obtained_on}")
        )
    if registered_on is not None and registration_valid_until is not None:
        ok = registration_valid_until >= registered_on
        checks.append(
            Check(
                "JL-P2",
                gettext_noop("第十四条第二项"),
                gettext_noop("执业注册有效期截止日期不能早于注册日期"),
                ok,
                "" if ok else f"注册日期 {registered_on}，有效期至 {registration_valid_until}",
            )
        )
    return checks


def physician_checks(
    physician,
    registration,
    *,
    acting_role: str,
    scope: str | Sequence[str] | None,
    on: date,
) -> list[Check]:
    """Every JL-P check for a physician acting for a facility, all of them, passed or failed.

    ``registration`` is the physician's practice registration at the facility they act for, or
    None. An invited expert must pass JL-P1..P6; the inviting attending physician JL-P1..P3 and
    JL-P6 (a facility authorises everyone who acts for it, art. 30, 31). ``scope`` is the scope of
    practice the case needs, or several of which one suffices (``expert_scopes``).
    """
    checks: list[Check] = []
    scopes = (scope,) if isinstance(scope, str) else tuple(s for s in (scope or ()) if s)

    qualified_on = getattr(physician, "qualification_obtained_on", None)
    qualification_future = qualified_on is not None and qualified_on > on
    cert_valid = (
        bool(physician.qualification_number)
        and bool(physician.certificate_number)
        and not qualification_future
        and not physician.certificate_revoked
        and (physician.certificate_valid_until is None or physician.certificate_valid_until >= on)
    )
    detail = ""
    if physician.certificate_revoked:
        detail = "执业证书已注销或吊销"
    elif physician.certificate_valid_until is not None and physician.certificate_valid_until < on:
        detail = f"执业证书有效期至 {physician.certificate_valid_until}"
    elif qualification_future:
        detail = f"取得资格日期 {qualified_on} 晚于核查日期 {on}"
    checks.append(Check("JL-P1", gettext_noop("第十四条第一项"), gettext_noop("须依法取得执业资格并持有有效的医师执业证书"), cert_valid, detail))

    registered = registration is not None and registration.registered_on <= on and (
        registration.valid_until is None or registration.valid_until >= on
    )
    checks.append(
        Check(
            "JL-P2",
            gettext_noop("第十四条第二项"),
            gettext_noop("须在其所代表的医疗机构注册执业"),
            registered,
            "" if registered else ("未在该机构注册执业" if registration is None else "在该机构的执业注册不在有效期内"),
        )
    )

    platform_ok = physician.platform_registered_at is not None and registration is not None and registration.verified_at is not None
    checks.append(
        Check(
            "JL-P3",
            gettext_noop("第十四条第三项"),
            gettext_noop("须在吉林省远程医疗会诊管理平台完成注册并经所在机构核验"),
            platform_ok,
            ""
            if platform_ok
            else ("未在平台注册" if physician.platform_registered_at is None else "所在机构尚未核验"),
        )
    )

    if acting_role == ActingRole.EXPERT:
        checks.append(expert_title_check(physician.title))
        held = set(physician.scopes or [])
        in_scope = bool(scopes) and bool(held & set(scopes))
        needed = "或".join(str(PracticeScope(s).label) for s in scopes) if scopes else "未指定"
        checks.append(
            Check(
                "JL-P5",
                gettext_noop("第十四条第五项"),
                gettext_noop("会诊内容须与本人执业范围一致"),
                in_scope,
                "" if in_scope else f"所需专业：{needed}",
            )
        )

    authorised = (
        registration is not None
        and registration.authorised_at is not None
        and registration.authorisation_revoked_at is None
    )
    checks.append(
        Check(
            "JL-P6",
            gettext_noop("第三十条、第三十一条"),
            gettext_noop("须经所代表的医疗机构授权开展远程医疗服务"),
            authorised,
            "" if authorised else "所在机构未授权或已撤销授权",
        )
    )
    return checks


# --- Sign-in security (JL-A2, GB/T 22239-2019 8.1.4.1) ------------------------------------------

PASSWORD_CLASSES = ("lower", "upper", "digit", "symbol")


def password_character_classes(password: str) -> set[str]:
    """Which of the four classes (lower-case, upper-case letters, digits, other characters) a
    password uses. A letter without case (汉字) counts as "other"."""
    found: set[str] = set()
    for ch in password:
        if ch.isdigit():
            found.add("digit")
        elif ch.islower():
            found.add("lower")
        elif ch.isupper():
            found.add("upper")
        else:
            found.add("symbol")
    return found


def password_expired(*, set_at: datetime, now: datetime, max_age_days: int) -> bool:
    """JL-A2: a password set ``max_age_days`` or more ago must be changed (privileged roles)."""
    return (now - set_at).total_seconds() >= max_age_days * 86400


def is_privileged(*, admin_roles: Iterable[str], is_regulator: bool, facility_roles: Iterable[Iterable[str]]) -> bool:
    """JL-A2: privileged users are the three platform administrators, regulators and facility administrators."""
    return bool(set(admin_roles)) or is_regulator or any(StaffRole.FACILITY_ADMIN in roles for roles in facility_roles)


# --- Separation of duties (三员分立, JL-A2, GB/T 22239-2019 8.1.4.2 d) -----------------------------

SEPARATION_ARTICLE = "等保三级 8.1.4.2 d"


def admin_role_checks(
    *, role: str, held_admin_roles: Iterable[str], holds_data_roles: bool, is_self: bool, active: bool = True,
) -> list[Check]:
    """JL-A2 三员分立: may this account be given platform administrator ``role``?

    One person holds at most one of the three roles (a system administrator is not also the one who
    audits them), none of them besides a facility or regulator role (administrators see no patient
    or case data), and nobody grants a role to themselves. Every check is returned, failing or not.
    """
    held = set(held_admin_roles) - {role}
    return [
        Check("JL-A2", SEPARATION_ARTICLE, "管理员角色有效", role in AdminRole.values, "" if role in AdminRole.values else f"未知角色 {role}"),
        Check("JL-A2", SEPARATION_ARTICLE, "账号须为启用状态", active, "" if active else "该账号已停用"),
        Check("JL-A2", SEPARATION_ARTICLE, "三员分立：一人只担任一种管理员角色", not held,
              "" if not held else "该账号已是" + "、".join(str(AdminRole(r).label) for r in sorted(held))),
        Check("JL-A2", SEPARATION_ARTICLE, "管理员不兼任机构或监管角色（不接触患者和病例数据）", not holds_data_roles,
              "" if not holds_data_roles else "该账号持有机构或监管角色"),
        Check("JL-A2", SEPARATION_ARTICLE, "不能给自己授予管理员角色", not is_self, "" if not is_self else "授予人与被授予人为同一账号"),
    ]


def data_role_check(*, holds_admin_role: bool) -> Check:
    """JL-A2 三员分立: a platform administrator is not also given a facility or regulator role."""
    return Check(
        "JL-A2", SEPARATION_ARTICLE, "三员分立：管理员不兼任机构或监管角色", not holds_admin_role,
        "" if not holds_admin_role else "该账号是平台管理员，不能接触患者和病例数据",
    )


# --- The register of telemedicine equipment and software (JL-O7, art. 33) ---------------------

ASSET_MAX_INTERVAL_DAYS = 3650


def asset_checks(*, name: str, in_service_since: date | None, today: date, maintenance_interval_days: int | None) -> list[Check]:
    """JL-O7 (art. 33): an entry of the register names what it is, since when it serves, and how often
    it is maintained (if the maker sets a period)."""
    interval_ok = maintenance_interval_days is None or 1 <= maintenance_interval_days <= ASSET_MAX_INTERVAL_DAYS
    return [
        Check("JL-O7", "第三十三条", "须填写设备或软件名称", bool(name.strip())),
        Check(
            "JL-O7", "第三十三条", "启用日期须已到",
            in_service_since is not None and in_service_since <= today,
            "" if in_service_since is None or in_service_since <= today else f"填写为 {in_service_since:%Y-%m-%d}",
        ),
        Check(
            "JL-O7", "第三十三条", f"维护周期须为 1 至 {ASSET_MAX_INTERVAL_DAYS} 天",
            interval_ok, "" if interval_ok else f"填写为 {maintenance_interval_days}",
        ),
    ]


def next_maintenance_due(*, since: date, interval_days: int | None) -> date | None:
    """JL-O7 (art. 33): the next maintenance is due one period after the last one (or the start of service)."""
    if not interval_days:
        return None
    return since + timedelta(days=interval_days)


def maintenance_overdue(*, next_due: date | None, status: str, today: date) -> bool:
    return status == AssetStatus.IN_SERVICE and next_due is not None and next_due < today


def maintenance_checks(*, performed_on: date | None, today: date, in_service_since: date, status: str, description: str) -> list[Check]:
    """JL-O7 (art. 33): a maintenance record is dated within the entry's service life and says what was done."""
    dated = performed_on is not None and in_service_since <= performed_on <= today
    return [
        Check(
            "JL-O7", "第三十三条", "维护日期须在启用日期之后且不晚于今天", dated,
            "" if dated or performed_on is None else f"填写为 {performed_on:%Y-%m-%d}",
        ),
        Check("JL-O7", "第三十三条", "须写明维护内容", bool(description.strip())),
        Check("JL-O7", "第三十三条", "已停用报废的设备不再登记维护", status != AssetStatus.RETIRED),
    ]


def asset_status_checks(*, essential: bool, current: str, new: str, report: str) -> list[Check]:
    """JL-O7 (art. 33, 34): taking an essential entry out of service means the facility's telemedicine no
    longer has what it needs — it stops at once and reports (JL-F5), so the change must carry the report."""
    moves = current != new and current != AssetStatus.RETIRED
    stops = essential and new != AssetStatus.IN_SERVICE and current == AssetStatus.IN_SERVICE
    return [
        Check(
            "JL-O7", "第三十三条", "状态须有变化，已停用报废的设备不能恢复", moves,
            "" if moves else f"当前为 {AssetStatus(current).label}",
        ),
        Check(
            "JL-O7", "第三十四条", "必要设备停用时，机构须立即停止远程医疗服务并报告：请写明情况",
            not stops or bool(report.strip()),
        ),
    ]


# --- Credited assistance time (JL-O4, art. 46.4) -----------------------------------------------

ASSISTANCE_CREDIT_PERCENT = 25
REPORT_STANDARD_MAX_MINUTES = 480
BELOW_COUNTY_KINDS = frozenset({"township", "community"})


def report_standard_check(*, category: str, minutes: int | None) -> Check:
    """JL-O4: a diagnosis type's standard time per report is 1 to 480 minutes (or not set)."""
    fits = category == ServiceCategory.DIAGNOSIS and (minutes is None or 1 <= minutes <= REPORT_STANDARD_MAX_MINUTES)
    return Check(
        "JL-O4", "第四十六条第四项", f"诊断类项目的报告标准时长须为 1 至 {REPORT_STANDARD_MAX_MINUTES} 分钟", fits,
        "" if fits else ("会诊类项目按实际会诊时长计算" if category != ServiceCategory.DIAGNOSIS else f"填写为 {minutes}"),
    )


def assistance_credit_check(*, kind: str, public: bool) -> Check:
    """JL-O4 (art. 46.4): work counts toward on-site assistance time for staff of public facilities at
    county level and above (a township health centre or a community health service centre is below)."""
    eligible = public and kind not in BELOW_COUNTY_KINDS
    return Check(
        "JL-O4", "第四十六条第四项", "县级以上公立医疗机构医务人员参与完成远程医疗服务方可计入对口帮扶驻点时间", eligible,
        "" if eligible else ("非公立医疗机构" if not public else "基层医疗卫生机构"),
    )


def credited_minutes(work_minutes: int) -> int:
    """JL-O4 (art. 46.4): telemedicine work counts at 25 % (whole minutes, rounded down)."""
    return max(0, work_minutes) * ASSISTANCE_CREDIT_PERCENT // 100
