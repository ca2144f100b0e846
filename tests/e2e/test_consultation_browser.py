"""A remote consultation from admission to signed opinion and rating, clicked through in Chromium.

Four people of the demo network (facilities/demo_data.py) take their turn on one browser, signing
out and in as they would at a shared hospital PC: 许星澜 (clinician_nongan) at 农安县人民医院
registers a new patient, records the admission and the family's request for a remote consultation
(JL-C2 art. 22 (3): the 24-hour countdown starts), prepares and sends the request, which meets the
obligation; 唐予诺 (coordinator_jdyy) at 吉林大学第一医院 accepts it, assigns 林沐川 and schedules the
session; 林沐川 (expert_jdyy) signs the opinion; 许星澜 closes the case and records both ratings.
Nothing is set up behind the pages' backs: every step is a form a person fills in.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e]

NONGAN = "农安县人民医院"
JDYY = "吉林大学第一医院"
PATIENT = "邵广福"  # not in the demo data, so a search by name finds only this patient
ID_NUMBER = "220122196208159136"  # well-formed (GB 11643 check digit), invented
INPATIENT_NUMBER = "E2E-ZY-0001"
OPINION = (
    "会诊意见（端到端测试）：1. 考虑社区获得性肺炎合并心功能不全。2. 建议完善痰培养、BNP 与心脏超声，"
    "抗感染改用哌拉西林他唑巴坦。3. 本意见供邀请方参考，诊疗责任由邀请方承担（第二十八条）。"
)
MATERIAL = {  # document kind (its label on the form) → (title, file name)
    "病情摘要": ("病情摘要（入院第1天）", "condition-summary.pdf"),
    "病历资料": ("入院记录与病程记录", "medical-record.pdf"),
    "检验检查报告": ("血常规、生化与胸部CT报告", "test-report.pdf"),
}


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name=label, exact=True).click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login/"))


def local(moment: dt.datetime) -> str:
    """A ``datetime-local`` input's value, in Beijing time as the clerk types it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def state_badge(page: Page):
    return page.get_by_role("heading", level=1).locator(".badge").first


def flash(page: Page):
    return page.get_by_role("status")


def timeline(page: Page):
    return page.locator("#timeline ol.timeline").first


def small_pdf(folder: Path, name: str, title: str) -> Path:
    path = folder / name
    path.write_bytes(b"%PDF-1.4\n% " + title.encode() + b"\n%%EOF\n")
    return path


def test_remote_consultation_from_admission_to_signed_opinion_and_rating(page: Page, login, shot, tmp_path):
    now = timezone.now()

    # --- 许星澜 at 农安: a new patient, the admission and the family's request (JL-C2 情形三) ---------
    login(page, "clinician_nongan")
    expect(page.get_by_role("heading", level=1)).to_have_text("您好，许星澜")
    nav(page, "远程会诊")
    page.get_by_role("link", name="发起远程医疗申请").click()
    expect(page).to_have_url(re.compile(r"/consultations/new/$"))
    expect(page.locator("ol.steps [aria-current=step]")).to_have_text("患者")
    page.get_by_label("姓名", exact=True).fill(PATIENT)
    page.get_by_label("性别").select_option(label="男")
    page.get_by_label("出生日期").fill("1962-08-15")
    page.get_by_label("身份证件号码", exact=True).fill(ID_NUMBER)
    page.get_by_label("联系电话", exact=True).fill("13804310913")
    page.get_by_label("病案号/门诊号", exact=True).fill("E2E-BA-0001")
    shot(page, "01-wizard-step1-new-patient")
    page.get_by_role("button", name="登记并继续").click()
    expect(flash(page)).to_contain_text(f"已登记患者 {PATIENT}。")
    expect(page.get_by_role("heading", level=1)).to_have_text("受邀方与邀请内容")

    nav(page, "上传义务")
    expect(page.get_by_role("heading", level=1)).to_contain_text("24小时上传义务")
    record = page.locator("section#record")
    record.get_by_label("姓名，或完整的病案号、身份证件号码、电话").fill(PATIENT)
    record.get_by_role("button", name="查找患者").click()
    record.get_by_role("row", name=re.compile(PATIENT)).get_by_role("link", name="选择").click()
    panel = page.locator("#patient")
    expect(panel.get_by_role("heading", level=3)).to_contain_text(PATIENT)
    expect(panel.get_by_role("heading", level=3)).to_contain_text("220***********9136")  # JL-C9: masked
    admitted_at = now - dt.timedelta(hours=3)
    panel.get_by_label("住院号").fill(INPATIENT_NUMBER)
    panel.get_by_label("科室/病区").fill("内一科")
    panel.get_by_label("入院时间").fill(local(admitted_at))
    panel.get_by_role("button", name="登记入院").click()
    expect(flash(page)).to_contain_text(f"已登记入院：{PATIENT}，住院号 {INPATIENT_NUMBER}。")
    watch = page.locator("section#watch")
    expect(watch.get_by_role("row", name=re.compile(PATIENT))).to_contain_text(INPATIENT_NUMBER)

    requested_at = now - dt.timedelta(hours=1)
    panel.get_by_label("提出时间").fill(local(requested_at))
    panel.get_by_label("提出人").fill("患者之妻 王秀琴")
    panel.get_by_role("button", name="登记情形三").click()
    due = timezone.localtime(requested_at).replace(second=0, microsecond=0) + dt.timedelta(hours=24)
    expect(flash(page)).to_contain_text(
        f"已登记：（三）患方提出远程会诊要求。患者 {PATIENT} 的资料须在 {due:%Y-%m-%d %H:%M} 前上传受邀方"
    )
    open_row = page.locator("table.table").first.get_by_role("row", name=re.compile(PATIENT))
    expect(open_row).to_contain_text("（三）患方提出远程会诊要求")
    expect(open_row.get_by_role("timer")).to_have_text(re.compile(r"^剩余 2[23]:\d{2}:\d{2}$"))
    shot(page, "02-obligations-open")

    nav(page, "首页")
    urgent = page.locator(
        "section.card", has=page.get_by_role("heading", name=re.compile("待上传义务：最紧急的在前"))
    )
    home_row = urgent.get_by_role("row", name=re.compile(PATIENT))
    expect(home_row.get_by_role("timer")).to_have_text(re.compile(r"^剩余 2[23]:\d{2}:\d{2}$"))
    expect(home_row).to_contain_text(f"{due:%Y-%m-%d %H:%M}")
    shot(page, "03-home-countdown")

    # --- The wizard: patient by search, then destination and invitation (JL-F3, JL-C1, JL-C4) ------
    nav(page, "远程会诊")
    page.get_by_role("link", name="发起远程医疗申请").click()
    page.get_by_label("姓名，或完整的病案号、身份证件号码、电话").fill(ID_NUMBER)  # the full number finds him
    page.get_by_role("button", name="查找患者").click()
    found = page.get_by_role("row", name=re.compile(PATIENT))
    expect(found).to_contain_text("220***********9136")
    found.get_by_role("link", name="选择").click()
    expect(page.locator("ol.steps [aria-current=step]")).to_have_text("受邀方与邀请内容")
    page.get_by_label("受邀方与服务项目").select_option(label=f"{JDYY} · 远程会诊")
    page.get_by_label("关联住院").select_option(
        label=f"{INPATIENT_NUMBER} 内一科 {timezone.localtime(admitted_at):%Y-%m-%d}"
    )
    page.get_by_label("紧急程度").select_option(label="加急")
    page.get_by_label("期望会诊时间").fill(local(now + dt.timedelta(days=1)))
    page.get_by_label("所需专业").select_option(label="内科专业")
    page.get_by_label("所需专家职称（最低）").select_option(label="副主任医师")
    page.get_by_label("申请理由").fill("发热、咳嗽伴活动后气促5天，抗感染治疗3天效果不佳，本院难以明确病因。")
    page.get_by_label("会诊目的").fill("明确诊断，调整抗感染及心功能治疗方案。")
    page.get_by_label("病例摘要").fill(
        "男，63岁。5天前受凉后发热，最高38.9℃，咳黄痰，活动后气促。高血压病史10年。"
        "血常规白细胞13.2×10⁹/L，CRP 86 mg/L；胸部CT示右下肺斑片影，少量胸腔积液。予头孢呋辛治疗3天，体温未降。"
    )
    shot(page, "04-wizard-step2-invitation")
    page.get_by_role("button", name="保存草稿并继续").click()

    expect(page).to_have_url(re.compile(r"/consultations/\d+/$"))
    case_url = page.url
    number = page.get_by_role("heading", level=1).locator(".mono").inner_text()
    expect(flash(page)).to_contain_text(f"申请 {number} 已保存为草稿。")
    expect(state_badge(page)).to_have_text("草稿")
    expect(page.get_by_role("heading", level=1)).to_contain_text("加急")
    expect(page.get_by_role("heading", level=1)).to_contain_text("远程会诊")
    expect(page.locator(".page-head .lead")).to_have_text(re.compile(rf"^{NONGAN}\s*→.*{JDYY}$"))
    readiness = page.locator("#prepare")
    expect(readiness.locator("li.check-fail").filter(has_text="JL-C3").first).to_be_visible()
    shot(page, "05-case-draft")

    # Consent (JL-C3), with the separate consent to sensitive information (个人信息保护法 art. 29).
    consent = page.locator("#form-consent")
    consent.get_by_label("签署人", exact=True).fill("王秀琴")
    consent.get_by_label("与患者关系").select_option(label="配偶")
    consent.get_by_label("签署时间").fill(local(now - dt.timedelta(minutes=20)))
    consent.get_by_label("或：电子签名凭证").fill("CA-E2E-20260001")
    consent.get_by_label(re.compile("单独同意向受邀方提供敏感个人信息")).check()
    consent.get_by_role("button", name="记录知情同意").click()
    expect(flash(page)).to_contain_text("知情同意已记录。")
    consent_card = page.locator("section#consent")
    expect(consent_card).to_contain_text("王秀琴（配偶）")
    expect(consent_card).to_contain_text("CA-E2E-20260001")
    expect(consent_card.locator(".badge")).to_have_text("已同意")

    # The attending physician: himself, 许星澜, offered first (JL-C3 art. 23; JL-P1..P3, P6 checked).
    participant = page.locator("#form-participant")
    expect(participant.get_by_label("邀请方经治医师").locator("option:checked")).to_contain_text("许星澜")
    participant.get_by_role("button", name="加入").click()
    expect(flash(page)).to_contain_text("经治医师已加入。")
    expect(
        page.locator("section#participants").get_by_role("row", name=re.compile("许星澜"))
    ).to_contain_text("邀请方经治医师")

    # The three kinds of material art. 22 requires (JL-C2, JL-C5).
    upload = page.locator("#form-document")
    for kind, (title, filename) in MATERIAL.items():
        upload.get_by_label("资料类别").select_option(label=kind)
        upload.get_by_label("名称", exact=True).fill(title)
        upload.get_by_label("文件").set_input_files(small_pdf(tmp_path, filename, title))
        upload.get_by_role("button", name="上传", exact=True).click()
        expect(flash(page)).to_contain_text("资料已上传。")
        expect(
            page.locator("section#documents").get_by_role("row", name=re.compile(re.escape(title)))
        ).to_contain_text(kind)
    documents = page.locator("section#documents tbody tr")
    expect(documents).to_have_count(3)
    for row in documents.all():
        expect(row).to_contain_text("PDF")
        expect(row.locator(".badge")).to_have_text("有效")
    expect(readiness.locator("li.check-fail")).to_have_count(0)
    shot(page, "06-case-draft-ready")

    page.get_by_role("button", name="④ 发送申请").click()
    expect(flash(page)).to_contain_text("申请已发送至受邀方。")
    expect(state_badge(page)).to_have_text("已发送")
    expect(page.locator("dl.facts").filter(has_text="合作协议")).to_contain_text("JLYC-DEMO-001")
    expect(timeline(page)).to_contain_text("按时完成 1 项24小时上传义务")
    shot(page, "07-case-sent")

    # The obligation is met: gone from the open list, listed as met with the request's number.
    nav(page, "上传义务")
    expect(page.locator("table.table").first.get_by_role("row", name=re.compile(PATIENT))).to_have_count(0)
    page.get_by_label("状态").select_option(label="已按时上传")
    page.get_by_role("button", name="筛选").click()
    met_row = page.locator("table.table").first.get_by_role("row", name=re.compile(PATIENT))
    expect(met_row.locator(".badge")).to_have_text("已按时上传")
    expect(met_row.get_by_role("link", name=number)).to_be_visible()
    shot(page, "08-obligations-met")
    sign_out(page)

    # --- 唐予诺 at 吉大一院: inbox, accept (JL-C7 recorded), assign, schedule, start -------------------
    login(page, "coordinator_jdyy")
    nav(page, "收件箱")
    expect(page.get_by_role("heading", level=1)).to_contain_text("收件箱")
    inbox_row = page.get_by_role("row", name=re.compile(re.escape(number)))
    expect(inbox_row).to_contain_text(PATIENT)
    expect(inbox_row).to_contain_text(NONGAN)
    expect(inbox_row).to_contain_text("加急")
    expect(inbox_row.locator(".badge").last).to_have_text("已发送")
    shot(page, "09-inbox")
    inbox_row.get_by_role("link", name=number).click()
    expect(page).to_have_url(case_url)
    expect(page.locator("section#responsibility")).to_contain_text("受理和签发时记录。")

    page.get_by_role("button", name="受理", exact=True).click()
    expect(flash(page)).to_contain_text("已受理。")
    expect(state_badge(page)).to_have_text("已受理")
    responsibility = page.locator("section#responsibility .responsibility")
    expect(responsibility).to_have_count(1)
    expect(responsibility.first).to_contain_text("受理时 · JL-C7 第二十八条")
    expect(responsibility.first).to_contain_text("承担诊疗责任")

    assign = page.locator("#form-assign")
    expert = assign.get_by_label("会诊专家").locator("option", has_text="林沐川")
    assign.get_by_label("会诊专家").select_option(expert.get_attribute("value"))
    assign.get_by_role("button", name="指定").click()
    expect(flash(page)).to_contain_text("已指定会诊专家。")
    expect(
        page.locator("section#participants").get_by_role("row", name=re.compile("林沐川"))
    ).to_contain_text("受邀方会诊专家")
    shot(page, "10-case-accepted")

    session_at = timezone.localtime(now + dt.timedelta(days=1)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    # Issue 12: scheduling is the coordinator's next step, open in the "下一步" panel (no longer folded).
    expect(page.locator("#actions .next-step", has_text="排期")).to_be_visible()
    schedule = page.locator("#form-schedule")
    schedule.get_by_label("会诊时间").fill(local(session_at))
    schedule.get_by_label("视频会议链接").fill("https://meet.example.cn/jdyy-5")
    schedule.get_by_role("button", name="保存排期").click()
    expect(flash(page)).to_contain_text("已排期。")
    expect(state_badge(page)).to_have_text("已排期")
    expect(page.locator("#actions")).to_contain_text("https://meet.example.cn/jdyy-5")
    expect(page.locator("ol.progress li.done", has_text="排期")).to_contain_text(
        f"{session_at:%Y-%m-%d %H:%M}"
    )
    page.get_by_role("button", name="开始会诊").click()
    expect(flash(page)).to_contain_text("会诊已开始。")
    expect(state_badge(page)).to_have_text("会诊进行中")
    sign_out(page)

    # --- 林沐川 signs the opinion (JL-C6; JL-C7 recorded again) --------------------------------------
    login(page, "expert_jdyy")
    nav(page, "收件箱")
    page.get_by_role("link", name=number).click()
    expect(state_badge(page)).to_have_text("会诊进行中")
    # JL-C11: the consultation template's sections, a coded diagnosis, recommendations.
    sign = page.locator("#form-sign")
    sign.get_by_label("病史摘要").fill("发热伴咳嗽、气促5天，入院4天诊断未明。")
    sign.get_by_label("病情评估").fill(OPINION)
    sign.get_by_label("诊疗计划").fill("完善痰培养、BNP 与心脏超声。")
    sign.get_by_label("第 1 条诊断的 ICD-10 编码").fill("J18-9")  # malformed: refused, kept as typed
    sign.get_by_label("第 1 条诊断名称").fill("社区获得性肺炎")
    page.get_by_role("button", name="签发", exact=True).click()
    expect(page.locator("#form-sign .alert-error")).to_contain_text("JL-C11")
    expect(page.locator("#form-sign").get_by_label("病情评估")).to_have_value(OPINION)
    page.locator("#form-sign").get_by_label("第 1 条诊断的 ICD-10 编码").fill("J18.9")
    page.locator("#form-sign").get_by_label("建议", exact=True).fill("抗感染改用哌拉西林他唑巴坦。")
    page.get_by_role("button", name="签发", exact=True).click()
    expect(flash(page)).to_contain_text("已签发。")
    expect(state_badge(page)).to_have_text("意见/报告已签发")
    opinion = page.locator("#opinions article.opinion")
    expect(opinion).to_have_count(1)
    expect(opinion.get_by_role("heading", level=3)).to_contain_text("会诊意见 · 第 1 版")
    expect(opinion.get_by_role("heading", level=3)).to_contain_text("现行版本")
    expect(opinion).to_contain_text("签发专家：林沐川（主任医师）")
    expect(opinion.locator(".mono")).to_have_text(re.compile(r"^SHA-256 [0-9a-f]{16}…$"))
    expect(opinion.locator(".opinion-structured")).to_contain_text("考虑社区获得性肺炎合并心功能不全")
    expect(opinion.locator(".diagnosis-list")).to_contain_text("社区获得性肺炎 J18.9")
    expect(responsibility).to_have_count(2)
    expect(responsibility.nth(1)).to_contain_text("签发时 · JL-C7 第二十八条")
    expect(page.locator("#form-sign")).to_have_count(0)  # signed text cannot change, only be corrected
    shot(page, "11-case-signed")
    sign_out(page)

    # --- 许星澜 reads the signed opinion, closes the case and records both ratings (JL-O5) ----------
    login(page, "clinician_nongan")
    nav(page, "远程会诊")
    page.get_by_role("link", name=re.compile("意见已签发")).click()
    page.get_by_role("link", name=number).click()
    expect(opinion.get_by_role("heading", level=3)).to_contain_text("第 1 版")
    full_hash = opinion.locator(".mono").get_attribute("title")
    assert full_hash is not None and re.fullmatch(r"[0-9a-f]{64}", full_hash)
    expect(opinion.locator(".mono")).to_have_text(f"SHA-256 {full_hash[:16]}…")
    # The printable report (JL-C11): the invited facility's header, the signer, the full hash.
    opinion.get_by_role("link", name="打印版报告").click()
    expect(page.locator(".facility-name")).to_have_text(JDYY)
    expect(page.locator(".report-signers")).to_contain_text("林沐川（主任医师）")
    expect(page.locator(".report-signers .hash")).to_have_text(full_hash)
    expect(page.locator(".report-signers")).to_contain_text("内容与签发时一致")
    printed = page.pdf(format="A4")  # with the print stylesheet and its @page rules (page numbers)
    assert printed.startswith(b"%PDF")
    shot(page, "11b-report-printable").with_suffix(".pdf").write_bytes(printed)
    page.emulate_media(media="print")
    expect(page.locator(".report-toolbar")).to_be_hidden()
    page.emulate_media(media="screen")
    page.get_by_role("link", name="返回病例").click()
    page.get_by_role("button", name="确认收到并结束").click()
    expect(flash(page)).to_contain_text("已确认收到意见/报告，服务结束。")
    expect(state_badge(page)).to_have_text("已结束")

    rate = page.locator("#form-rate")
    rate.get_by_label("评价人").select_option(label="邀请方医师")
    rate.get_by_label("5", exact=True).check()
    rate.get_by_label("评价", exact=True).fill("意见具体可操作，调整抗感染方案后体温下降。")
    rate.get_by_role("button", name="记录评价").click()
    expect(flash(page)).to_contain_text("评价已记录。")
    expect(rate.get_by_label("评价人").locator("option")).to_have_text(["患者或家属"])  # each rater once
    rate.get_by_label("4", exact=True).check()
    rate.get_by_label("评价", exact=True).fill("不用去长春就看上了省里的专家。")
    rate.get_by_role("button", name="记录评价").click()
    ratings = page.locator("section#ratings")
    expect(ratings.locator("p", has_text="邀请方医师")).to_contain_text("5 / 5")
    expect(ratings.locator("p", has_text="邀请方医师")).to_contain_text("意见具体可操作")
    expect(ratings.locator("p", has_text="患者或家属")).to_contain_text("4 / 5")
    expect(page.locator("#form-rate")).to_have_count(0)  # both raters have rated

    # The audit timeline tells the whole story, in order: each JL-P check and JL-C7 record comes
    # just before the step it belongs to, the obligation is met by the sending, the charge by closing.
    expect(timeline(page).locator("li .timeline-what > strong")).to_have_text(
        [
            "创建申请（草稿）",
            "记录知情同意",
            "经治医师资质核验",
            "指定邀请方经治医师",
            "上传病历资料",
            "上传病历资料",
            "上传病历资料",
            "按时完成24小时上传义务",
            "发送申请",
            "记录责任认定",
            "受理",
            "专家资质核验（指定）",
            "指定会诊专家",
            "排期",
            "开始会诊",
            "专家资质核验（签发）",
            "记录责任认定",
            "签发意见/报告",
            "确认收到并结束",
            "生成收费记录",
            "满意度评价",
            "满意度评价",
        ]
    )
    expect(timeline(page).locator("li.timeline-failure")).to_have_count(0)
    shot(page, "12-case-closed")
