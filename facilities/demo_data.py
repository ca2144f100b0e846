"""Demonstration data for ``manage.py seed_demo``: plain values only, no database access.

The hospitals are real Jilin hospitals so that the demo reads true, but every licence number,
certificate number, agreement, person and login here is invented and marked ``DEMO``. Dates are
relative to the day the command runs (``years`` offsets from today's year), so that an agreement
"in force" stays in force whenever the demo is loaded; natural keys (names and numbers) never
depend on the date, so a second run finds what the first one made.

Each physician who is deliberately unqualified carries ``fails`` (the one JL-P rule they fail when
acting as an invited expert for ``acts_for`` on a ``check_scope`` request) and a ``note`` that the
demo guide can quote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .choices import (
    AccreditationStatus,
    AdminRole,
    FacilityGrade,
    FacilityKind,
    FacilityLevel,
    PracticeScope,
    StaffRole,
    SuspensionCause,
    Title,
)

# Public by design: printed by the command and written in the README. Never use it in production.
DEMO_PASSWORD = "Demo-2026!jl"  # noqa: S105


@dataclass(frozen=True)
class FacilitySpec:
    key: str  # short handle used in usernames and below
    name: str
    division: str  # GB/T 2260 code where it stands
    licence_issuer: str  # the division whose health commission issued the licence (art. 34)
    level: int
    grade: str
    kind: str
    address: str
    licence_number: str
    licence_valid_years: int  # licence expires on 31 Dec of (this year + n); negative = expired
    accreditation: str = AccreditationStatus.APPROVED
    note: str = ""


@dataclass(frozen=True)
class AgreementSpec:
    number: str
    inviting: str
    invited: str
    services: tuple[str, ...]
    from_years: int  # valid from 1 Jan of (this year + n)
    until_years: int  # valid until 31 Dec of (this year + n)
    inviting_share: int
    invited_share: int
    terminate_reason: str = ""
    note: str = ""


@dataclass(frozen=True)
class RegistrationSpec:
    facility: str
    primary: bool = True
    registered_on: str = "2015-09-01"
    lapsed: bool = False  # the registration ran out on 31 Dec last year
    verify: bool = True
    authorise: bool = True
    revoke: bool = False


@dataclass(frozen=True)
class PhysicianSpec:
    name: str
    qualification_number: str
    qualification_year: int
    certificate_number: str
    title: int
    scopes: tuple[str, ...]
    registrations: tuple[RegistrationSpec, ...]
    platform_registered: bool = True
    certificate_expired: bool = False  # certificate ran out on 30 Jun last year
    user: str = ""  # the demo login linked through Physician.user
    duty: str = ""  # "<facility key>:<scope>" roster this physician rotates on
    fails: str = ""  # the one JL-P rule this physician deliberately fails
    acts_for: str = ""  # facility key for the failing check
    check_scope: str = ""  # request speciality for the failing check
    note: str = ""


@dataclass(frozen=True)
class LoginSpec:
    username: str
    display_name: str
    role: str  # a StaffRole, "regulator" or an AdminRole (三员分立)
    facility: str = ""  # facility key for staff roles
    division: str = ""  # division code for regulators
    note: str = ""


@dataclass(frozen=True)
class SuspensionSpec:
    facility: str
    cause: str
    description: str


@dataclass(frozen=True)
class DutySpec:
    facility: str
    scope: str
    # (day index from today, shift start hour, hours actually covered): a shortened shift leaves a gap.
    gaps: tuple[tuple[int, int, int], ...] = field(default=())
    note: str = ""


# --- Facilities -------------------------------------------------------------------------------

_L3, _L2, _L1 = FacilityLevel.LEVEL_3, FacilityLevel.LEVEL_2, FacilityLevel.LEVEL_1
_A, _U = FacilityGrade.A, FacilityGrade.UNGRADED
_GENERAL = FacilityKind.GENERAL_HOSPITAL

FACILITIES: tuple[FacilitySpec, ...] = (
    # Invited facilities: level 3 甲等; provincial hospitals licensed by the province, city ones by the city.
    FacilitySpec("jdyy", "吉林大学第一医院", "220104", "220000", _L3, _A, _GENERAL, "长春市朝阳区",
                 "DEMO0001PDY22010411A1001", 4, note="受邀方：影像、检验/病理 24 小时值班"),
    FacilitySpec("jlsrmyy", "吉林省人民医院", "220104", "220000", _L3, _A, _GENERAL, "长春市朝阳区",
                 "DEMO0002PDY22010411A1002", 4, note="受邀方：会诊、门诊"),
    FacilitySpec("zryy", "吉林大学中日联谊医院", "220105", "220000", _L3, _A, _GENERAL, "长春市二道区",
                 "DEMO0003PDY22010511A1001", 3, note="受邀方：病例讨论、病理"),
    FacilitySpec("ybdx", "延边大学附属医院", "222401", "220000", _L3, _A, _GENERAL, "延边朝鲜族自治州延吉市",
                 "DEMO0004PDY22240111A1001", 3, note="受邀方：影像、检验/病理值班，检验/病理排班有一处空档"),
    FacilitySpec("jlszx", "吉林市中心医院", "220204", "220200", _L3, _A, _GENERAL, "吉林市船营区",
                 "DEMO0005PDY22020411A1001", 2, note="受邀方（市级发证）"),
    # Inviting facilities: county hospitals (level 2, licensed by the city) ...
    FacilitySpec("nongan", "农安县人民医院", "220122", "220100", _L2, _A, _GENERAL, "长春市农安县",
                 "DEMO0101PDY22012221A1001", 3, note="邀请方：与吉大一院、省人民医院签约"),
    FacilitySpec("dunhua", "敦化市医院", "222403", "222400", _L2, _A, _GENERAL, "延边朝鲜族自治州敦化市",
                 "DEMO0102PDY22240321A1001", 3, note="邀请方：与延大附院签约；与吉林市中心医院的协议已终止"),
    FacilitySpec("lishu", "梨树县第一人民医院", "220322", "220300", _L2, _A, _GENERAL, "四平市梨树县",
                 "DEMO0103PDY22032221A1001", 2, note="已暂停远程医疗服务（JL-F5，设备变更）"),
    FacilitySpec("fusong", "抚松县人民医院", "220621", "220600", _L2, _A, _GENERAL, "白山市抚松县",
                 "DEMO0104PDY22062121A1001", -1, note="执业许可证已过期（JL-F2）；与吉大一院的协议已到期（JL-F3）"),
    # ... and township / community centres (level 1, licensed by the county or district).
    FacilitySpec("helong", "农安县合隆镇中心卫生院", "220122", "220122", _L1, _U, FacilityKind.TOWNSHIP_CENTRE,
                 "长春市农安县合隆镇", "DEMO0201PDY22012231B1001", 2, note="邀请方（乡镇卫生院）"),
    FacilitySpec("shuguang", "长春市南关区曙光街道社区卫生服务中心", "220102", "220102", _L1, _U,
                 FacilityKind.COMMUNITY_CENTRE, "长春市南关区曙光街道", "DEMO0202PDY22010231B1001", 3,
                 note="邀请方（社区卫生服务中心）"),
    FacilitySpec("dashitou", "敦化市大石头镇中心卫生院", "222403", "222403", _L1, _U, FacilityKind.TOWNSHIP_CENTRE,
                 "延边朝鲜族自治州敦化市大石头镇", "DEMO0203PDY22240331B1001", 2,
                 accreditation=AccreditationStatus.PENDING, note="评估验收待审核（JL-F1），已与延大附院签约但尚不能开展"),
    FacilitySpec("beiji", "吉林市船营区北极街道社区卫生服务中心", "220204", "220204", _L1, _U,
                 FacilityKind.COMMUNITY_CENTRE, "吉林市船营区北极街道", "DEMO0204PDY22020431B1001", 3,
                 note="一级机构：可作邀请方，若被选为受邀方应被拒绝（JL-F2 第十二条）"),
)

SUSPENDED = SuspensionSpec(
    "lishu",
    SuspensionCause.EQUIPMENT_CHANGE,
    "（演示）院内 CT 设备更换，新设备尚未完成验收与远程影像传输联调；按第三十四条即时停止远程医疗服务并报告发证机关。",
)

# --- The equipment register (JL-O7, art. 33): what the demo hospitals run telemedicine on ---------


@dataclass(frozen=True)
class AssetSpec:
    facility: str
    kind: str
    name: str
    model_number: str
    vendor: str
    essential: bool
    months_in_service: int  # started this many months before the demo's today
    interval_days: int | None
    maintained_days_ago: int | None = None  # the latest maintenance; None: never maintained yet


ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec("jdyy", "equipment", "远程会诊终端（会诊中心）", "DEMO-HD900", "（演示）厂家甲", True, 30, 180, 40),
    AssetSpec("jdyy", "equipment", "医用诊断显示器（影像）", "DEMO-MD21", "（演示）厂家乙", True, 24, 90, 120,),
    AssetSpec("jdyy", "software", "远程影像诊断系统", "V5.2", "（演示）软件商丙", True, 36, 365, 200),
    AssetSpec("nongan", "equipment", "远程会诊终端", "DEMO-HD500", "（演示）厂家甲", True, 18, 180, 30),
    AssetSpec("nongan", "equipment", "病理切片扫描仪", "DEMO-PS10", "（演示）厂家丁", False, 6, 60, None),
    AssetSpec("ybdx", "software", "远程会诊系统", "V3.1", "（演示）软件商丙", True, 20, 365, 100),
)

# --- Complaints (JL-O6): one answered, one overdue ------------------------------------------------


@dataclass(frozen=True)
class ComplaintSpec:
    facility: str
    complainant_name: str
    phone: str
    relation: str
    text: str
    days_ago: int  # received this many days before the demo's today (entered by the coordinator)
    answer: str = ""  # answered (with this text) when set; else left open
    substantiated: bool | None = None


COMPLAINTS: tuple[ComplaintSpec, ...] = (
    ComplaintSpec("jdyy", "（演示）王女士", "13900000001", "family", "（演示）远程会诊后三天仍未收到会诊意见。", 5,
                  "（演示）经核查，专家意见签发延误，已督促签发并向您致歉。", True),
    ComplaintSpec("jdyy", "（演示）李先生", "13900000002", "patient", "（演示）远程影像诊断报告与复查结果不一致，希望说明。", 12),
)

# JL-O6 双随机一公开: 长春市's roster (username, the facility they work at) and one published plan.
INSPECTORS: tuple[tuple[str, str], ...] = (("expert_jdyy", "jdyy"), ("clinician_nongan", "nongan"), ("reg_nongan", ""))
INSPECTION_PLAN_TITLE = "（演示）长春市2026年远程医疗服务双随机抽查"
INSPECTION_FINDINGS: tuple[tuple[str, str], ...] = (
    ("（演示）远程会诊设备维护记录不完整，部分会诊未在24小时内归档。", "（演示）补齐设备维护台账，完善会诊资料归档制度，30日内报告整改情况。"),
    ("（演示）未发现问题。", ""),
)

# JL-O4 (art. 46.4): the standard time one diagnosis report counts as. Invented for the demonstration;
# the provincial commission sets the real figures on the service types page.
REPORT_STANDARD_MINUTES = {"imaging": 30, "pathology": 40, "laboratory": 15}

INVITED_KEYS = ("jdyy", "jlsrmyy", "zryy", "ybdx", "jlszx")
LEVEL_ONE_TRAP = "beiji"
EXPIRED_LICENCE = "fusong"
PENDING_ACCREDITATION = "dashitou"

# --- Cooperation agreements (inviting → invited) ------------------------------------------------

_OPINION = ("consultation", "outpatient", "case_discussion")
_ALL = (*_OPINION, "pathology", "imaging", "laboratory")

AGREEMENTS: tuple[AgreementSpec, ...] = (
    AgreementSpec("JLYC-DEMO-001", "nongan", "jdyy", _ALL, -1, 2, 3, 7, note="六项服务全覆盖，协商项目 3:7"),
    AgreementSpec("JLYC-DEMO-002", "nongan", "jlsrmyy", _OPINION, -1, 1, 4, 6, note="会诊类，协商项目 4:6"),
    AgreementSpec("JLYC-DEMO-003", "helong", "jdyy", ("consultation", "imaging", "laboratory"), 0, 2, 3, 7),
    AgreementSpec("JLYC-DEMO-004", "shuguang", "jlsrmyy", ("consultation", "outpatient", "imaging"), -1, 1, 3, 7),
    AgreementSpec("JLYC-DEMO-005", "dunhua", "ybdx", ("consultation", "pathology", "imaging", "laboratory"), -1, 2, 3, 7),
    AgreementSpec("JLYC-DEMO-006", "lishu", "zryy", ("consultation", "case_discussion", "pathology"), -1, 1, 4, 6),
    AgreementSpec("JLYC-DEMO-007", "fusong", "jdyy", ("consultation", "imaging"), -4, -1, 3, 7,
                  note="已到期（JL-F3）：有效期截至去年年底"),
    AgreementSpec("JLYC-DEMO-008", "dunhua", "jlszx", ("consultation", "imaging", "laboratory"), -2, 2, 3, 7,
                  terminate_reason="（演示）双方协商调整合作关系，影像、检验诊断改由延边大学附属医院承担。",
                  note="已终止（JL-F3）"),
    AgreementSpec("JLYC-DEMO-009", "beiji", "jlszx", ("consultation", "imaging"), 0, 2, 2, 8, note="协商项目 2:8"),
    AgreementSpec("JLYC-DEMO-010", "dashitou", "ybdx", ("consultation", "imaging"), 0, 2, 3, 7,
                  note="邀请方评估验收待审核（JL-F1）"),
)

EXPIRED_AGREEMENT = "JLYC-DEMO-007"
TERMINATED_AGREEMENT = "JLYC-DEMO-008"

# --- Physicians (invented people; certificate numbers are the natural key) ------------------------

_T = Title
_S = PracticeScope
_R = RegistrationSpec


def _doc(n: int, year: int) -> tuple[str, int, str]:
    """Invented, clearly marked qualification and certificate numbers for physician ``n``."""
    return f"DEMO-ZG-{year}-22{n:05d}", year, f"DEMO-ZY-22{n:07d}"


PHYSICIANS: tuple[PhysicianSpec, ...] = (
    # 吉林大学第一医院: qualified experts and the imaging and lab/pathology rosters.
    PhysicianSpec("林沐川", *_doc(1, 1998), _T.CHIEF_PHYSICIAN, (_S.INTERNAL, _S.GENERAL), (_R("jdyy"),),
                  user="expert_jdyy", note="合格专家（内科会诊），expert_jdyy 登录"),
    PhysicianSpec("韩知远", *_doc(2, 2003), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.IMAGING,),
                  (_R("jdyy"), _R("nongan", primary=False, registered_on="2021-03-15")),
                  duty="jdyy:imaging", note="多点执业：吉大一院（第一执业地点）与农安县人民医院"),
    PhysicianSpec("姜若宁", *_doc(3, 1996), _T.CHIEF_PHYSICIAN, (_S.IMAGING,), (_R("jdyy"),), duty="jdyy:imaging"),
    PhysicianSpec("周晏清", *_doc(4, 2005), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.IMAGING, _S.INTERNAL), (_R("jdyy"),),
                  duty="jdyy:imaging"),
    PhysicianSpec("孟书衡", *_doc(5, 2004), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.LAB_PATHOLOGY,), (_R("jdyy"),),
                  duty="jdyy:lab_pathology"),
    PhysicianSpec("钟予安", *_doc(6, 1997), _T.CHIEF_PHYSICIAN, (_S.LAB_PATHOLOGY,), (_R("jdyy"),),
                  duty="jdyy:lab_pathology"),
    PhysicianSpec("沈一禾", *_doc(7, 2006), _T.ASSOCIATE_CHIEF_TECHNICIAN, (_S.LAB_PATHOLOGY,), (_R("jdyy"),),
                  note="技师系列（副主任技师），检验科技术骨干；非医师系列职称，不作为签发报告的专家（JL-P4）"),
    PhysicianSpec("顾清和", *_doc(8, 2002), _T.ASSOCIATE_CHIEF_NURSE, (), (_R("jdyy"),),
                  note="护理系列（副主任护师），远程会诊护理协调，不作为会诊专家"),
    # 吉林大学第一医院: the deliberately unqualified, one rule each (as expert for 吉大一院).
    PhysicianSpec("杜衡之", *_doc(11, 2001), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.IMAGING,), (_R("jdyy"),),
                  certificate_expired=True, fails="JL-P1", acts_for="jdyy", check_scope=_S.IMAGING,
                  note="JL-P1：医师执业证书已过期（去年 6 月 30 日），其他条件均满足"),
    PhysicianSpec("方砚秋", *_doc(12, 2003), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.IMAGING,),
                  (_R("jdyy", primary=False, lapsed=True), _R("jlszx", registered_on="2024-01-10")),
                  fails="JL-P2", acts_for="jdyy", check_scope=_S.IMAGING,
                  note="JL-P2：现仅在吉林市中心医院注册执业，在吉大一院的注册已于去年年底到期"),
    PhysicianSpec("江述白", *_doc(13, 1999), _T.CHIEF_PHYSICIAN, (_S.INTERNAL,), (_R("jdyy"),),
                  platform_registered=False, fails="JL-P3", acts_for="jdyy", check_scope=_S.INTERNAL,
                  note="JL-P3：本人尚未在省远程医疗平台完成注册（医院已核验执业注册并授权）"),
    PhysicianSpec("秦可颂", *_doc(14, 2012), _T.ATTENDING_PHYSICIAN, (_S.IMAGING,), (_R("jdyy"),),
                  fails="JL-P4", acts_for="jdyy", check_scope=_S.IMAGING,
                  note="JL-P4：主治医师，未达副高职称"),
    PhysicianSpec("白景初", *_doc(15, 2004), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.INTERNAL,), (_R("jdyy"),),
                  fails="JL-P5", acts_for="jdyy", check_scope=_S.IMAGING,
                  note="JL-P5：执业范围为内科，不能出具医学影像诊断"),
    PhysicianSpec("苏望舒", *_doc(16, 2002), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.IMAGING,), (_R("jdyy", revoke=True),),
                  fails="JL-P6", acts_for="jdyy", check_scope=_S.IMAGING,
                  note="JL-P6：吉大一院已撤销其远程医疗授权；再次尝试会记入考核档案"),
    # 吉林省人民医院, 中日联谊医院, 吉林市中心医院.
    PhysicianSpec("赵清禾", *_doc(21, 1997), _T.CHIEF_PHYSICIAN, (_S.INTERNAL, _S.GENERAL),
                  (_R("jlsrmyy"), _R("zryy", primary=False, registered_on="2020-06-01")),
                  note="多点执业：省人民医院与中日联谊医院"),
    PhysicianSpec("陆启航", *_doc(22, 2005), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.SURGERY,), (_R("jlsrmyy"),)),
    PhysicianSpec("温景行", *_doc(23, 2006), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.PAEDIATRICS,), (_R("jlsrmyy"),)),
    PhysicianSpec("顾念慈", *_doc(24, 1995), _T.CHIEF_PHYSICIAN, (_S.OBGYN,), (_R("zryy"),)),
    PhysicianSpec("程以宁", *_doc(25, 2007), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.LAB_PATHOLOGY,), (_R("zryy"),)),
    PhysicianSpec("叶闻笛", *_doc(26, 2008), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.INTERNAL, _S.EMERGENCY), (_R("jlszx"),)),
    # 延边大学附属医院: imaging and lab/pathology rosters.
    PhysicianSpec("崔明浩", *_doc(31, 1996), _T.CHIEF_PHYSICIAN, (_S.IMAGING,), (_R("ybdx"),),
                  user="expert_ybdx", duty="ybdx:imaging", note="合格专家（影像），expert_ybdx 登录"),
    PhysicianSpec("金顺姬", *_doc(32, 2004), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.IMAGING,), (_R("ybdx"),),
                  duty="ybdx:imaging"),
    PhysicianSpec("朴哲洙", *_doc(33, 2005), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.IMAGING, _S.INTERNAL), (_R("ybdx"),),
                  duty="ybdx:imaging"),
    PhysicianSpec("玄美善", *_doc(34, 2006), _T.ASSOCIATE_CHIEF_PHYSICIAN, (_S.LAB_PATHOLOGY,), (_R("ybdx"),),
                  duty="ybdx:lab_pathology"),
    PhysicianSpec("南基勋", *_doc(35, 1999), _T.CHIEF_PHYSICIAN, (_S.LAB_PATHOLOGY,), (_R("ybdx"),),
                  duty="ybdx:lab_pathology", note="病理科主任医师，参与检验/病理值班"),
    PhysicianSpec("宋知白", *_doc(36, 1998), _T.CHIEF_PHYSICIAN, (_S.LAB_PATHOLOGY,), (_R("ybdx"),),
                  duty="ybdx:lab_pathology"),
    # Inviting side: attending physicians (JL-P1..P3, P6 apply), technicians and nurses.
    PhysicianSpec("许星澜", *_doc(41, 2013), _T.ATTENDING_PHYSICIAN, (_S.INTERNAL,), (_R("nongan"),),
                  user="clinician_nongan", note="邀请方经治医师（主治医师），clinician_nongan 登录"),
    PhysicianSpec("陈予墨", *_doc(42, 2019), _T.RESIDENT_PHYSICIAN, (_S.SURGERY,), (_R("nongan"),),
                  note="邀请方医师（住院医师）"),
    PhysicianSpec("于清越", *_doc(43, 2017), _T.TECHNICIAN, (_S.IMAGING,), (_R("nongan"),),
                  note="技师系列（技师），负责影像采集上传"),
    PhysicianSpec("刘安澜", *_doc(44, 2016), _T.NURSE, (), (_R("nongan"),), note="护理系列（护师）"),
    PhysicianSpec("白小川", *_doc(45, 2018), _T.ASSISTANT_PHYSICIAN, (_S.GENERAL,), (_R("helong"),),
                  note="乡镇卫生院医士"),
    PhysicianSpec("李正勋", *_doc(46, 2015), _T.RESIDENT_PHYSICIAN, (_S.INTERNAL,), (_R("dunhua"),),
                  user="clinician_dunhua", note="邀请方经治医师，clinician_dunhua 登录"),
    PhysicianSpec("金惠贞", *_doc(47, 2011), _T.ASSISTANT_TECHNICIAN, (_S.LAB_PATHOLOGY,), (_R("dunhua"),),
                  note="技师系列（技士），负责标本采集"),
)

# --- Duty rosters (JL-F4): three 8-hour shifts a day for 7 days -----------------------------------

SHIFT_START_HOURS = (0, 8, 16)
DUTY_DAYS = 7
DUTY: tuple[DutySpec, ...] = (
    DutySpec("jdyy", _S.IMAGING),
    DutySpec("jdyy", _S.LAB_PATHOLOGY),
    DutySpec("ybdx", _S.IMAGING),
    DutySpec("ybdx", _S.LAB_PATHOLOGY, gaps=((2, 0, 2),),
             note="空档：后天 02:00–08:00（北京时间）无检验/病理值班人员，诊断申请应被标记（JL-F4）"),
)

# --- Logins (one per role in several facilities and divisions) -----------------------------------

REGULATOR = "regulator"
# The three administrators of 三员分立 (JL-A2): no facility, no division, no patient data.
SYSTEM_ADMIN, SECURITY_ADMIN, AUDIT_ADMIN = AdminRole.SYSTEM, AdminRole.SECURITY, AdminRole.AUDIT
ADMIN_ROLES = (SYSTEM_ADMIN, SECURITY_ADMIN, AUDIT_ADMIN)

LOGINS: tuple[LoginSpec, ...] = (
    LoginSpec("clinician_nongan", "许星澜", StaffRole.CLINICIAN, facility="nongan"),
    LoginSpec("coordinator_nongan", "高若溪", StaffRole.COORDINATOR, facility="nongan"),
    LoginSpec("admin_nongan", "郑楚然", StaffRole.FACILITY_ADMIN, facility="nongan"),
    LoginSpec("finance_nongan", "冯映雪", StaffRole.FINANCE, facility="nongan"),
    LoginSpec("partner_nongan", "农安县人民医院 HIS 对接", StaffRole.PARTNER_SYSTEM, facility="nongan",
              note="API 令牌见下"),
    LoginSpec("clinician_dunhua", "李正勋", StaffRole.CLINICIAN, facility="dunhua"),
    LoginSpec("coordinator_dunhua", "朴雅琳", StaffRole.COORDINATOR, facility="dunhua"),
    LoginSpec("coordinator_jdyy", "唐予诺", StaffRole.COORDINATOR, facility="jdyy"),
    LoginSpec("expert_jdyy", "林沐川", StaffRole.CLINICIAN, facility="jdyy", note="主任医师，内科"),
    LoginSpec("admin_jdyy", "罗亦舟", StaffRole.FACILITY_ADMIN, facility="jdyy"),
    LoginSpec("finance_jdyy", "邵静姝", StaffRole.FINANCE, facility="jdyy"),
    LoginSpec("coordinator_ybdx", "池景贤", StaffRole.COORDINATOR, facility="ybdx"),
    LoginSpec("expert_ybdx", "崔明浩", StaffRole.CLINICIAN, facility="ybdx", note="主任医师，影像"),
    LoginSpec("admin_ybdx", "严可心", StaffRole.FACILITY_ADMIN, facility="ybdx"),
    LoginSpec("reg_province", "吉林省卫生健康委（演示）", REGULATOR, division="220000"),
    LoginSpec("reg_changchun", "长春市卫生健康委（演示）", REGULATOR, division="220100"),
    LoginSpec("reg_yanbian", "延边州卫生健康委（演示）", REGULATOR, division="222400"),
    LoginSpec("reg_nongan", "农安县卫生健康局（演示）", REGULATOR, division="220122"),
    LoginSpec("sysadmin", "系统管理员（演示）", SYSTEM_ADMIN, note="配置与账号，不接触患者数据"),
    LoginSpec("secadmin", "安全管理员（演示）", SECURITY_ADMIN, note="角色、策略与解除锁定"),
    LoginSpec("auditadmin", "审计管理员（演示）", AUDIT_ADMIN, note="查阅与校验审计记录，不作任何修改"),
)

PARTNER_LOGIN = "partner_nongan"
# Issue 14: the demo partner application of 农安县人民医院's HIS (OAuth2 client credentials), acting as
# PARTNER_LOGIN. A fixed id and secret, for the demonstration only: seed_demo (and so rundemo) prints
# them; the database keeps only the secret's hash. A real registration gets random ones, shown once.
DEMO_CLIENT_ID = "demo-nongan-his"
DEMO_CLIENT_SECRET = "demo-nongan-his-secret-2026"  # noqa: S105 - demonstration data only
DEMO_CLIENT_NAME = "农安县人民医院 HIS（演示）"


@dataclass(frozen=True)
class ClientSpec:
    """A demo partner application (issue 14): fixed id and secret (demonstration only), the facility
    that registers it, the demo login it acts as, and its scopes (empty: every scope)."""

    client_id: str
    secret: str
    name: str
    facility: str
    acting_login: str
    scopes: tuple[str, ...] = ()
    note: str = ""


# The invited side of the demo case run by examples/partner_client.py: the provincial-level 吉林大学第一医院
# (licensed by the province). A coordination system cannot sign (JL-C6: only the assigned expert does),
# so the hospital has two applications: its consultation centre's, acting as its coordinator (accept,
# assign, schedule), and an expert's signing workstation, acting as the expert (every JL-P check runs on
# him at each act).
DEMO_CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_CLIENT_NAME, "nongan", PARTNER_LOGIN,
               note="邀请方 HIS：患者、住院、申请、知情同意、资料、发送、结束、收费"),
    ClientSpec("demo-jdyy-coordination", "demo-jdyy-coordination-secret-2026",  # noqa: S106 - demonstration data only
               "吉林大学第一医院 远程会诊中心（演示）", "jdyy", "coordinator_jdyy",
               ("consultations:read", "consultations:write", "documents:read", "facilities:read", "patients:read",
                "webhooks:manage"),
               note="受邀方协调：受理、指定专家、排期、开始会诊"),
    ClientSpec("demo-jdyy-expert", "demo-jdyy-expert-secret-2026",  # noqa: S106 - demonstration data only
               "吉林大学第一医院 专家签发工作站·林沐川（演示）", "jdyy", "expert_jdyy",
               ("consultations:read", "consultations:write", "documents:read"),
               note="受邀方专家：签发会诊意见（JL-C6）"),
)
PROVINCIAL_REGULATOR_LOGIN = "reg_province"
SYSTEM_ADMIN_LOGIN, SECURITY_ADMIN_LOGIN, AUDIT_ADMIN_LOGIN = "sysadmin", "secadmin", "auditadmin"
DEMO_TOTP_DEVICE_NAME = "演示身份验证器"  # seed_demo enrols the privileged demo logins (JL-A2); demo_totp reads it


# --- The yearly evaluation (JL-O3, art. 45-47) -------------------------------------------------
# Each facility's principal (主要负责人), a demo formula, and the province's evaluation of the two
# years before this one: published, 农安县人民医院 不合格 both years (so flagged for accountability,
# its principal barred), 吉林大学第一医院 raised to 优秀 on review. All names are invented.
PRINCIPALS = {
    "jdyy": "韩志远", "jlsrmyy": "于佳明", "zryy": "陶文博", "ybdx": "金成浩", "jlszx": "魏立群",
    "nongan": "白振华", "dunhua": "崔永吉", "lishu": "孔祥宇", "fusong": "段清源",
    "helong": "鲁红梅", "shuguang": "冯晓丽", "dashitou": "朴美善", "beiji": "邹国庆",
}
EVALUATION_WEIGHTS = {"volume": 20, "compliance": 15, "response": 10, "turnaround": 10, "satisfaction": 15, "qc": 10,
                      "violations": 10, "suspensions": 10}
EVALUATION_THRESHOLDS = {"excellent": 85, "pass": 50, "volume_target": 200, "response_target_hours": 2,
                         "turnaround_target_hours": 48, "violation_penalty": 10, "suspension_penalty": 30}
EVALUATION_DOCUMENT = "吉卫医发〔2025〕12号（演示）"
EVALUATION_ADJUSTMENTS = {  # years ago → facility key → (grade, reason)
    2: {"nongan": ("fail", "（演示）现场复核：远程医疗管理制度未落实，24小时上传多次超时，评为不合格。")},
    1: {"nongan": ("fail", "（演示）现场复核：整改未到位，仍评为不合格。"),
        "jdyy": ("excellent", "（演示）全年承担全省远程会诊任务最多，现场复核评为优秀。")},
}
