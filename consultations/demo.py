"""Demonstration cases for ``manage.py seed_demo``: patients, JL-C2 obligations and requests in every state.

Called by the command inside its audit context and transaction, after the facilities and the billing
prices (a closed case is charged on close, JL-B1..B3) and before the statements. Every write goes
through ``consultations.services`` with the demo login that would do it in real life, so the audit
log, the JL-P checks and the notifications read as after real use.

Natural keys: a patient is ``DEMO-P-nnn`` (the partner system's patient number) at its facility, an
admission its inpatient number, a case the patient (one demo request per patient). What exists is
skipped, so a second run creates nothing and writes no audit event. The services stamp "now" on
every step, so a case passes through its states within the same second; only the moments the
services accept from the past (admission, the patient's request, the consent signature) are spread.

Every person, identity number and telephone number below is invented. Identity numbers are
well-formed (GB 11643: county code, birth date, sequence 9xx, check digit) but belong to nobody.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from facilities.choices import ImagingModality, PracticeScope, Title
from facilities.models import Facility, Physician, ServiceType

from . import services
from .choices import (
    OPEN_STATES,
    REQUIRED_MATERIAL,
    ConsentRelation,
    ConsultationState,
    DocumentKind,
    ObligationState,
    RaterKind,
    Sex,
    TriggerKind,
    Urgency,
)
from .models import Admission, Consultation, Obligation, Patient

DEMO_PATIENT_PREFIX = "DEMO-P-"
S = ConsultationState

# Who does what, per facility key (logins from facilities/demo_data.py).
CLINICIAN = {"nongan": "clinician_nongan", "dunhua": "clinician_dunhua"}
COORDINATOR = {"nongan": "coordinator_nongan", "dunhua": "coordinator_dunhua", "jdyy": "coordinator_jdyy", "ybdx": "coordinator_ybdx"}
HIS = {"nongan": "partner_nongan"}  # the hospital information system pushes patients and admissions
EXPERT = {"jdyy": "expert_jdyy", "ybdx": "expert_ybdx"}
COUNTY = {"nongan": "220122", "dunhua": "222403"}  # GB/T 2260, the first six digits of an identity number
AREA_CODE = {"nongan": "0431", "dunhua": "0433"}  # telephone area code, used in the invented 138 numbers


@dataclass(frozen=True)
class AdmissionSpec:
    inpatient_number: str
    ward: str
    hours_ago: float = 0
    diagnosis: str = ""  # confirmed ``diagnosed_after_hours`` after admission (no art. 22 (1) obligation)
    diagnosed_after_hours: float = 0
    # Instead of ``hours_ago``: admitted so that the art. 22 (1) obligation falls due this many hours
    # from now (admission + TELEMED_UNDIAGNOSED_AFTER_HOURS + 24 h), undiagnosed.
    undiagnosed_due_in_hours: float | None = None


@dataclass(frozen=True)
class CaseSpec:
    number: int  # DEMO-P-nnn
    facility: str
    name: str
    sex: str
    born: date
    label: str  # what the case shows when seeded, for the summary and the guide
    target: str | None = None  # final state of the request; None: a patient with an obligation only
    invited: str = "jdyy"
    service: str = "consultation"
    modality: str = ""
    urgency: str = Urgency.ROUTINE
    scope: str = PracticeScope.INTERNAL
    title: int = Title.ASSOCIATE_CHIEF_PHYSICIAN
    reason: str = ""
    purpose: str = ""
    summary: str = ""
    signer: str = ""  # empty: the patient signs themself
    relation: str = ConsentRelation.SELF
    e_signature: bool = True  # else a scanned PDF of the signed form
    admission: AdmissionSpec | None = None
    patient_request_hours_ago: float | None = None  # JL-C2 (3): the patient or family asked
    request_note: str = ""
    return_reason: str = ""  # returns the test report as insufficient
    decline_reason: str = ""
    video_link: str = ""
    scheduled_tomorrow_at: time | None = None  # else the session is held now
    opinion: str = ""
    correction: str = ""
    correction_reason: str = ""
    ratings: tuple[tuple[str, int, str], ...] = field(default=())

    @property
    def external_id(self) -> str:
        return f"{DEMO_PATIENT_PREFIX}{self.number:03d}"


CASES: tuple[CaseSpec, ...] = (
    CaseSpec(
        1, "nongan", "王桂芝", Sex.FEMALE, date(1958, 3, 14), "农安→吉大一院 远程会诊，资料齐全待发送；患方要求，JL-C2 约 20 小时后到期",
        target=S.DRAFT,
        reason="反复咳嗽、活动后气促2个月，胸部CT示右肺下叶磨玻璃结节，本院难以明确性质。",
        purpose="明确结节性质，给出随访或进一步检查（穿刺活检/PET-CT）建议。",
        summary="女，68岁。2个月前无明显诱因出现咳嗽，少痰，活动后气促。吸烟史无。胸部CT：右肺下叶后基底段"
        "磨玻璃结节约1.4 cm，边缘见分叶。血常规、CEA轻度升高（6.2 ng/mL）。",
        signer="李建华", relation=ConsentRelation.CHILD,
        patient_request_hours_ago=4, request_note="患者之子于门诊当面提出，请吉大一院呼吸内科专家远程会诊。",
    ),
    CaseSpec(
        2, "nongan", "李树森", Sex.MALE, date(1966, 11, 2), "农安→吉大一院 远程会诊（加急），患方要求后按时上传：JL-C2 已完成",
        target=S.SENT, urgency=Urgency.URGENT,
        reason="2型糖尿病患者，近3日血肌酐进行性升高，少尿，本院肾内科力量不足。",
        purpose="明确急性肾损伤病因，评估是否需要转上级医院行血液净化治疗。",
        summary="男，59岁。2型糖尿病史12年。3天前腹泻后出现尿量减少（约400 mL/日）。血肌酐 98→265→341 μmol/L，"
        "血钾5.6 mmol/L。已停用二甲双胍，予补液。",
        e_signature=False, patient_request_hours_ago=6, request_note="患者本人入院后要求上级医院专家会诊。",
    ),
    CaseSpec(
        3, "nongan", "张淑华", Sex.FEMALE, date(1972, 7, 21), "农安→吉大一院 远程会诊，检验报告不清晰被退回补充",
        target=S.RETURNED,
        reason="不明原因发热2周，抗感染治疗效果不佳。",
        purpose="协助明确发热原因，指导下一步检查与治疗。",
        summary="女，53岁。发热2周，体温最高39.2℃，伴乏力、盗汗。头孢曲松治疗7天无效。血常规白细胞11.8×10⁹/L，"
        "血沉58 mm/h。胸片未见明显异常。",
        return_reason="检验检查报告为手机翻拍件，字迹不清，且缺少血培养及降钙素原结果；请上传原始报告后重新发送。",
    ),
    CaseSpec(
        4, "nongan", "刘子涵", Sex.MALE, date(2016, 5, 9), "农安→吉大一院 远程会诊，受邀方暂无所需儿科专家而拒绝",
        target=S.DECLINED, scope=PracticeScope.PAEDIATRICS,
        reason="患儿活动后口唇青紫，心脏听诊闻及杂音，本院无小儿心血管专科。",
        purpose="明确先天性心脏病类型及手术指征。",
        summary="男，9岁。近半年活动后易疲劳、口唇轻度发绀。胸骨左缘第3、4肋间闻及3/6级收缩期杂音。"
        "心电图示右心室肥厚。心脏超声提示室间隔缺损可能。",
        signer="刘建军", relation=ConsentRelation.PARENT,
        decline_reason="本院小儿心血管专业副主任医师以上专家本周均在外院支援，无法在期望时间内安排；"
        "建议转请吉林省人民医院儿科会诊。",
    ),
    CaseSpec(
        5, "nongan", "赵玉兰", Sex.FEMALE, date(1961, 9, 30), "农安→吉大一院 远程会诊，已指定专家，明天 09:30 视频会诊",
        target=S.SCHEDULED,
        reason="糖尿病肾病患者血糖波动大，胰岛素方案调整困难。",
        purpose="优化降糖方案，评估肾功能进展及用药安全。",
        summary="女，64岁。2型糖尿病20年，糖尿病肾病。入院空腹血糖4.1–15.8 mmol/L 波动，夜间低血糖2次。"
        "eGFR 38 mL/min/1.73m²，尿蛋白（++）。",
        admission=AdmissionSpec("DEMO-ZY-0005", "内分泌科", 4 * 24, diagnosis="2型糖尿病；糖尿病肾病（CKD 3b期）",
                                diagnosed_after_hours=30),
        video_link="https://meet.invalid/jdyy-3", scheduled_tomorrow_at=time(9, 30),
    ),
    CaseSpec(
        6, "dunhua", "金英浩", Sex.MALE, date(1968, 10, 3), "敦化→延大附院 远程影像诊断（CT），报告已更正为第 2 版",
        target=S.SIGNED, invited="ybdx", service="imaging", modality=ImagingModality.RADIOLOGY, scope=PracticeScope.IMAGING,
        urgency=Urgency.URGENT,
        reason="头部外伤后头痛、呕吐，本院CT无值班诊断医师。",
        purpose="头颅CT平扫诊断，明确有无颅内出血。",
        summary="男，57岁。2小时前骑摩托车摔伤头部，伤后头痛、呕吐2次，GCS 14分。已行头颅CT平扫，DICOM已上传。",
        e_signature=False,
        opinion="远程影像诊断报告（演示）\n检查：头颅CT平扫。\n所见：右侧额颞部颅骨内板下见新月形高密度影，最厚约6 mm，"
        "邻近脑沟变浅，中线结构居中。\n印象：右侧额颞部急性硬膜下血肿，建议密切观察并复查CT。",
        correction="远程影像诊断报告（演示，更正版）\n检查：头颅CT平扫。\n所见：左侧额颞部颅骨内板下见新月形高密度影，"
        "最厚约6 mm，邻近脑沟变浅，中线结构居中。\n印象：左侧额颞部急性硬膜下血肿，建议密切观察并复查CT。",
        correction_reason="初版报告将血肿侧别误写为右侧，经复核图像更正为左侧（JL-C6）。",
    ),
    CaseSpec(
        7, "nongan", "孙振华", Sex.MALE, date(1955, 1, 17), "农安→吉大一院 远程会诊，已评价；收费 2:8，患者已缴费",
        target=S.CLOSED, title=Title.CHIEF_PHYSICIAN,
        reason="慢性阻塞性肺疾病急性加重，无创通气效果不佳。",
        purpose="评估是否需要有创通气或转院，调整抗感染方案。",
        summary="男，71岁。COPD病史15年。咳喘加重5天，血气：pH 7.31，PaCO₂ 68 mmHg，PaO₂ 55 mmHg。"
        "无创通气24小时后二氧化碳潴留无明显改善。",
        signer="孙丽", relation=ConsentRelation.CHILD,
        video_link="https://meet.invalid/jdyy-1",
        opinion="会诊意见（演示）：1. 诊断：慢性阻塞性肺疾病急性加重，II型呼吸衰竭。2. 建议调整无创通气参数（IPAP 逐步上调至 "
        "18–20 cmH₂O），2小时后复查血气；如仍无改善或意识改变，及时行有创通气。3. 抗感染可升级为哌拉西林他唑巴坦，"
        "留取痰培养。本意见供邀请方参考，诊疗责任由邀请方承担（第二十八条）。",
        ratings=((RaterKind.CLINICIAN, 5, "专家意见具体可操作，调整参数后血气明显改善。"),
                 (RaterKind.PATIENT, 5, "不用去长春就看上了省里的专家，很满意。")),
    ),
    CaseSpec(
        8, "nongan", "周丽娟", Sex.FEMALE, date(1980, 12, 5), "农安→吉大一院 远程门诊，已评价；收费按协议 3:7，待缴费",
        target=S.CLOSED, service="outpatient", scope=PracticeScope.GENERAL,
        reason="甲状腺结节复查，患者希望上级医院专家评估随访方案。",
        purpose="评估结节性质与随访间隔。",
        summary="女，45岁。体检发现甲状腺右叶结节1年，本次超声：右叶低回声结节 0.9×0.7 cm，边界清，无微钙化，"
        "TI-RADS 3类。甲功正常。",
        video_link="https://meet.invalid/jdyy-2",
        opinion="远程门诊意见（演示）：甲状腺右叶结节，TI-RADS 3类，考虑良性可能大；暂不需穿刺，建议6个月后复查甲状腺超声，"
        "如结节增大或出现可疑征象再行细针穿刺。本意见供邀请方参考（第二十八条）。",
        ratings=((RaterKind.CLINICIAN, 4, "意见明确，排期稍慢。"), (RaterKind.PATIENT, 5, "")),
    ),
    CaseSpec(
        9, "nongan", "马德胜", Sex.MALE, date(1949, 8, 11), "入院超3日未明确诊断，JL-C2 义务约 90 分钟后到期（首页红色倒计时）",
        admission=AdmissionSpec("DEMO-ZY-0009", "内一科", undiagnosed_due_in_hours=1.5),
    ),
    CaseSpec(
        10, "nongan", "高秀英", Sex.FEMALE, date(1952, 4, 26), "患方 30 小时前要求会诊，未在24小时内上传：已记录违规",
        patient_request_hours_ago=30, request_note="患者之女电话提出，要求请省级医院专家远程会诊。",
    ),
)

def _id_number(county: str, born: date, sequence: int) -> str:
    """A well-formed, invented 18-character identity number (GB 11643 check digit)."""
    body = f"{county}{born:%Y%m%d}{sequence:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def _pdf(spec: CaseSpec, title: str, kind: str) -> ContentFile:
    # Lazy: the command module imports this one.
    from facilities.management.commands.seed_demo import demo_pdf

    content = demo_pdf(f"{title} (DEMO - fictional patient)", f"Patient {spec.external_id}", "Generated by seed_demo")
    return ContentFile(content, name=f"{spec.external_id}-{kind}.pdf")


class CaseSeeder:
    def __init__(self, facilities: Mapping[str, Facility]):
        self.facilities = facilities
        self.created: Counter[str] = Counter()
        self.now = timezone.now()
        usernames = {*CLINICIAN.values(), *COORDINATOR.values(), *HIS.values(), *EXPERT.values()}
        # Fresh user objects: each caches its Scope on first use.
        self.users = {u.username: u for u in get_user_model().objects.filter(username__in=usernames)}
        self.needs_sweep = False

    def ago(self, hours: float) -> datetime:
        return self.now - timedelta(hours=hours)

    def tomorrow_at(self, at: time) -> datetime:
        return datetime.combine(timezone.localdate(self.now) + timedelta(days=1), at, tzinfo=timezone.get_current_timezone())

    def session_time(self) -> datetime:
        """A case that is finished today was held now: the services stamp each step with "now"."""
        return self.now.replace(second=0, microsecond=0)

    def run(self) -> Counter[str]:
        for spec in CASES:
            self.seed_case(spec)
        if self.needs_sweep:
            # Opens the 90-minute undiagnosed obligation and records the missed patient request.
            services.obligation_sweep()
        return self.created

    # --- patient, admission, obligation -------------------------------------------------------

    def seed_case(self, spec: CaseSpec) -> None:
        facility = self.facilities[spec.facility]
        patient = Patient.objects.filter(facility=facility, external_id=spec.external_id).first()
        if patient is None:
            patient = services.patient_register(
                actor=self.users[HIS.get(spec.facility) or CLINICIAN[spec.facility]],
                facility=facility,
                name=spec.name,
                sex=spec.sex,
                birth_date=spec.born,
                id_number=_id_number(COUNTY[spec.facility], spec.born, 900 + 2 * spec.number + (spec.sex == Sex.MALE)),
                phone=f"138{AREA_CODE[spec.facility]}{spec.number:04d}",
                medical_record_number=f"DEMO-BA-{spec.number:04d}",
                external_id=spec.external_id,
            )
            self.created["patients"] += 1
        admission = self.seed_admission(spec, patient) if spec.admission else None
        if spec.patient_request_hours_ago is not None and not Obligation.objects.filter(
            patient=patient, trigger=TriggerKind.PATIENT_REQUEST
        ).exists():
            services.obligation_open(
                actor=self.users[COORDINATOR[spec.facility]],
                patient=patient,
                trigger=TriggerKind.PATIENT_REQUEST,
                event_at=self.ago(spec.patient_request_hours_ago),
                details={"note": spec.request_note},
            )
            self.created["obligations"] += 1
            self.needs_sweep = True
        if spec.target is not None and not Consultation.objects.filter(patient=patient).exists():
            self.seed_request(spec, patient, admission)

    def seed_admission(self, spec: CaseSpec, patient: Patient) -> Admission:
        admission_spec = spec.admission
        existing = Admission.objects.filter(facility_id=patient.facility_id, inpatient_number=admission_spec.inpatient_number).first()
        if existing:
            return existing
        hours_ago = admission_spec.hours_ago
        if admission_spec.undiagnosed_due_in_hours is not None:
            hours_ago = settings.TELEMED_UNDIAGNOSED_AFTER_HOURS + 24 - admission_spec.undiagnosed_due_in_hours
            self.needs_sweep = True  # the sweep opens the obligation
        admitted_at = self.ago(hours_ago)
        admission = services.admission_record(
            actor=self.users[HIS.get(spec.facility) or CLINICIAN[spec.facility]],
            patient=patient,
            inpatient_number=admission_spec.inpatient_number,
            admitted_at=admitted_at,
            ward=admission_spec.ward,
            external_id=admission_spec.inpatient_number,
        )
        self.created["admissions"] += 1
        if admission_spec.diagnosis:
            services.admission_confirm_diagnosis(
                actor=self.users[CLINICIAN[spec.facility]],
                admission=admission,
                diagnosis=admission_spec.diagnosis,
                confirmed_at=admitted_at + timedelta(hours=admission_spec.diagnosed_after_hours),
            )
        return admission

    # --- the request, step by step to its target state -----------------------------------------

    def seed_request(self, spec: CaseSpec, patient: Patient, admission: Admission | None) -> None:
        clinician = self.users[CLINICIAN[spec.facility]]
        inviting, invited = self.facilities[spec.facility], self.facilities[spec.invited]
        consultation = services.consultation_create(
            actor=clinician,
            inviting=inviting,
            invited=invited,
            service_type=ServiceType.objects.get(code=spec.service),
            patient=patient,
            admission=admission,
            reason=spec.reason,
            purpose=spec.purpose,
            case_summary=spec.summary,
            wanted_scope=spec.scope,
            wanted_title=spec.title,
            urgency=spec.urgency,
            modality=spec.modality,
            requested_time=self.tomorrow_at(time(9, 30)) if spec.target in OPEN_STATES else self.session_time(),
        )
        self.created["consultations"] += 1
        services.consent_record(
            actor=clinician,
            consultation=consultation,
            signer_name=spec.signer or spec.name,
            relation=spec.relation,
            signed_at=self.ago(0.5),
            sensitive_info_consent=True,
            e_signature_reference=f"DEMO-CA-{spec.external_id}" if spec.e_signature else "",
            signed_copy=None if spec.e_signature else _pdf(spec, "Informed consent, signed", "consent"),
        )
        services.participant_add_inviting(
            actor=clinician, consultation=consultation, physician=Physician.objects.get(user=clinician)
        )
        documents = {
            kind: services.document_upload(
                actor=clinician, consultation=consultation, kind=kind, title=str(DocumentKind(kind).label),
                upload=_pdf(spec, str(DocumentKind(kind).name).replace("_", " ").title(), kind),
            )
            for kind in REQUIRED_MATERIAL
        }
        if spec.target == S.DRAFT:
            return
        consultation = services.consultation_send(actor=self.users[COORDINATOR[spec.facility]], consultation=consultation)
        coordinator = self.users[COORDINATOR[spec.invited]]
        if spec.target == S.SENT:
            return
        if spec.target == S.RETURNED:
            services.consultation_return_material(
                actor=coordinator, consultation=consultation, reason=spec.return_reason,
                document_ids=[documents[DocumentKind.TEST_REPORT].pk],
            )
            return
        if spec.target == S.DECLINED:
            services.consultation_decline(actor=coordinator, consultation=consultation, reason=spec.decline_reason)
            return
        consultation = services.consultation_accept(actor=coordinator, consultation=consultation)
        expert = self.users[EXPERT[spec.invited]]
        services.expert_assign(actor=coordinator, consultation=consultation, physician=Physician.objects.get(user=expert))
        if spec.video_link:
            scheduled_for = self.tomorrow_at(spec.scheduled_tomorrow_at) if spec.scheduled_tomorrow_at else self.session_time()
            consultation = services.consultation_schedule(
                actor=coordinator, consultation=consultation, scheduled_for=scheduled_for, video_link=spec.video_link
            )
            if spec.target == S.SCHEDULED:
                return
            consultation = services.consultation_start_session(actor=coordinator, consultation=consultation)
        opinion = services.opinion_sign(actor=expert, consultation=consultation, content=spec.opinion)
        if spec.correction:
            services.opinion_sign(
                actor=expert, consultation=consultation, content=spec.correction, corrects=opinion,
                correction_reason=spec.correction_reason,
            )
        if spec.target == S.SIGNED:
            return
        consultation = services.consultation_close(actor=clinician, consultation=consultation)
        for rater_kind, score, comment in spec.ratings:
            services.rating_record(actor=clinician, consultation=consultation, rater_kind=rater_kind, score=score, comment=comment)


def seed_consultations(*, facilities: Mapping[str, Facility]) -> Counter[str]:
    """Create the demo cases that are missing; returns what was created. Run inside the command's
    audit context and transaction, after the billing prices exist."""
    return CaseSeeder(facilities).run()


def summary_lines() -> list[str]:
    """Short Chinese summary of what exists, for the command's output."""
    by_state = Counter(
        Consultation.objects.filter(patient__external_id__startswith=DEMO_PATIENT_PREFIX).values_list("state", flat=True)
    )
    obligations = Counter(
        Obligation.objects.filter(patient__external_id__startswith=DEMO_PATIENT_PREFIX).values_list("state", flat=True)
    )
    lines = [
        "演示病例 Demo cases（" + "，".join(f"{s.label} {by_state[s]}" for s in S if by_state[s]) + "）",
        "  JL-C2 上传义务：" + "，".join(f"{s.label} {obligations[s]}" for s in ObligationState if obligations[s]),
    ]
    # As things stand now (a person trying the demo may have moved a case on since it was seeded).
    cases = {
        external_id: (number, S(state).label)
        for external_id, number, state in Consultation.objects.filter(
            patient__external_id__startswith=DEMO_PATIENT_PREFIX
        ).values_list("patient__external_id", "number", "state")
    }
    duties = {
        external_id: f"义务{ObligationState(state).label}"
        for external_id, state in Obligation.objects.filter(
            patient__external_id__startswith=DEMO_PATIENT_PREFIX, consultation__isnull=True
        ).values_list("patient__external_id", "state")
    }
    for spec in CASES:
        number, state = cases.get(spec.external_id, ("—", duties.get(spec.external_id, "—")))
        lines.append(f"  {spec.external_id} {spec.name}  {number:<17} {state}：{spec.label}")
    return lines
