from django.db import models
from django.utils.translation import gettext_lazy as _


class DivisionLevel(models.TextChoices):
    PROVINCE = "province", _("省级")
    CITY = "city", _("市（州）级")
    COUNTY = "county", _("县（区）级")


class FacilityLevel(models.IntegerChoices):
    LEVEL_1 = 1, _("一级")
    LEVEL_2 = 2, _("二级")
    LEVEL_3 = 3, _("三级")


class FacilityGrade(models.TextChoices):
    A = "A", _("甲等")
    B = "B", _("乙等")
    C = "C", _("丙等")
    UNGRADED = "U", _("未定级")


class FacilityKind(models.TextChoices):
    GENERAL_HOSPITAL = "general", _("综合医院")
    TCM_HOSPITAL = "tcm", _("中医（中西医结合、民族医）医院")
    SPECIALIST_HOSPITAL = "specialist", _("专科医院")
    MATERNAL_CHILD = "maternal_child", _("妇幼保健院")
    TOWNSHIP_CENTRE = "township", _("乡镇卫生院")
    COMMUNITY_CENTRE = "community", _("社区卫生服务中心")
    OTHER = "other", _("其他医疗机构")


class AccreditationStatus(models.TextChoices):
    """JL-F1 (art. 10): 远程医疗服务专业技术能力评估验收."""

    NONE = "none", _("未申请")
    PENDING = "pending", _("待审核")
    APPROVED = "approved", _("已通过")
    REJECTED = "rejected", _("未通过")


class AccreditationCondition(models.TextChoices):
    """The seven conditions of art. 13, in the article's order."""

    LICENCE = "c1_licence", _("（一）依法取得《医疗机构执业许可证》")
    TECH_REVIEW = "c2_tech_review", _("（二）通过远程医疗技术考核评审")
    ORGANISATION = "c3_organisation", _("（三）规范名称，有合适的组织机构、场所和专职管理人员")
    RESOURCES = "c4_resources", _("（四）有相适应的经费、数字化医疗设备、基本设施和培训合格的专职网络技术人员")
    PLATFORM_LINK = "c5_platform_link", _("（五）有相关信息系统，并通过数据专线或VPN与省远程医疗会诊管理平台互联互通")
    MANAGEMENT_RULES = "c6_management_rules", _("（六）建立远程医疗服务管理制度，严格执行医疗质量安全核心制度和服务规范")
    CIVIL_LIABILITY = "c7_civil_liability", _("（七）能够独立承担民事责任")


class ServiceCategory(models.TextChoices):
    """Art. 3: opinion services and diagnosis services answer differently under art. 28/29."""

    OPINION = "opinion", _("会诊类（意见供参考）")
    DIAGNOSIS = "diagnosis", _("诊断类（出具诊断报告）")


class ImagingModality(models.TextChoices):
    """Art. 3: 远程医学影像 includes 影像, 超声, 核医学, 心电图, 肌电图, 脑电图."""

    RADIOLOGY = "radiology", _("影像（X线/CT/MR）")
    ULTRASOUND = "ultrasound", _("超声")
    NUCLEAR = "nuclear", _("核医学")
    ECG = "ecg", _("心电图")
    EMG = "emg", _("肌电图")
    EEG = "eeg", _("脑电图")


class TitleSeries(models.TextChoices):
    PHYSICIAN = "physician", _("医师系列")
    PHARMACIST = "pharmacist", _("药师系列")
    NURSE = "nurse", _("护理系列")
    TECHNICIAN = "technician", _("技师系列")


class Title(models.IntegerChoices):
    """GB/T 8561 专业技术职务代码, the four health series. Codes ending 1 or 2 are 正高/副高."""

    CHIEF_PHYSICIAN = 231, _("主任医师")
    ASSOCIATE_CHIEF_PHYSICIAN = 232, _("副主任医师")
    ATTENDING_PHYSICIAN = 233, _("主治医师")
    RESIDENT_PHYSICIAN = 234, _("医师")
    ASSISTANT_PHYSICIAN = 235, _("医士")
    CHIEF_PHARMACIST = 241, _("主任药师")
    ASSOCIATE_CHIEF_PHARMACIST = 242, _("副主任药师")
    SUPERVISING_PHARMACIST = 243, _("主管药师")
    PHARMACIST = 244, _("药师")
    ASSISTANT_PHARMACIST = 245, _("药士")
    CHIEF_NURSE = 251, _("主任护师")
    ASSOCIATE_CHIEF_NURSE = 252, _("副主任护师")
    SUPERVISING_NURSE = 253, _("主管护师")
    NURSE = 254, _("护师")
    ASSISTANT_NURSE = 255, _("护士")
    CHIEF_TECHNICIAN = 261, _("主任技师")
    ASSOCIATE_CHIEF_TECHNICIAN = 262, _("副主任技师")
    SUPERVISING_TECHNICIAN = 263, _("主管技师")
    TECHNICIAN = 264, _("技师")
    ASSISTANT_TECHNICIAN = 265, _("技士")


TITLE_SERIES = {23: TitleSeries.PHYSICIAN, 24: TitleSeries.PHARMACIST, 25: TitleSeries.NURSE, 26: TitleSeries.TECHNICIAN}


class PracticeScope(models.TextChoices):
    """执业范围 of 卫医发〔2001〕169号 (physician categories 临床/口腔/公共卫生/中医)."""

    INTERNAL = "internal", _("内科专业")
    SURGERY = "surgery", _("外科专业")
    OBGYN = "obgyn", _("妇产科专业")
    PAEDIATRICS = "paediatrics", _("儿科专业")
    EENT = "eent", _("眼耳鼻咽喉科专业")
    DERMATOLOGY = "dermatology", _("皮肤病与性病专业")
    PSYCHIATRY = "psychiatry", _("精神卫生专业")
    OCCUPATIONAL = "occupational", _("职业病专业")
    IMAGING = "imaging", _("医学影像和放射治疗专业")
    LAB_PATHOLOGY = "lab_pathology", _("医学检验、病理专业")
    GENERAL = "general", _("全科医学专业")
    EMERGENCY = "emergency", _("急救医学专业")
    REHABILITATION = "rehabilitation", _("康复医学专业")
    PREVENTIVE = "preventive", _("预防保健专业")
    SPECIAL_MILITARY = "special_military", _("特种医学与军事医学专业")
    FAMILY_PLANNING = "family_planning", _("计划生育技术服务专业")
    STOMATOLOGY = "stomatology", _("口腔专业")
    PUBLIC_HEALTH = "public_health", _("公共卫生类别专业")
    TCM = "tcm", _("中医专业")
    INTEGRATED = "integrated", _("中西医结合专业")
    ETHNIC = "ethnic", _("蒙医、藏医、维医、傣医等民族医专业")


class StaffRole(models.TextChoices):
    CLINICIAN = "clinician", _("临床医师")
    COORDINATOR = "coordinator", _("远程医疗专职管理人员")
    FACILITY_ADMIN = "facility_admin", _("机构管理员")
    FINANCE = "finance", _("财务人员")
    PARTNER_SYSTEM = "partner_system", _("对接系统（API）")


class ActingRole(models.TextChoices):
    """In which capacity a physician acts on a case (decides which JL-P checks apply)."""

    EXPERT = "expert", _("受邀方专家")
    ATTENDING = "attending", _("邀请方经治医师")


class SuspensionCause(models.TextChoices):
    """Art. 34: the events that oblige a facility to stop at once."""

    KEY_STAFF_CHANGE = "staff_change", _("主要专业技术人员发生变更")
    EQUIPMENT_CHANGE = "equipment_change", _("必要的医疗设备发生变更")
    QUALITY_RISK = "quality_risk", _("存在医疗质量和医疗安全隐患")
    ADVERSE_OUTCOME = "adverse_outcome", _("出现严重不良后果")
    REGULATOR_ORDER = "regulator_order", _("卫生健康行政部门责令暂停")


class AssetKind(models.TextChoices):
    """JL-O7 (art. 33): what the facility's register of telemedicine equipment and software holds."""

    EQUIPMENT = "equipment", _("设备")
    SOFTWARE = "software", _("软件")


class AssetStatus(models.TextChoices):
    IN_SERVICE = "in_service", _("在用")
    FAULTY = "faulty", _("故障停用")
    RETIRED = "retired", _("已停用报废")


class MaintenanceKind(models.TextChoices):
    ROUTINE = "routine", _("例行维护")
    INSPECTION = "inspection", _("检测校准")
    REPAIR = "repair", _("维修")
    UPGRADE = "upgrade", _("升级")


class AgreementStatus(models.TextChoices):
    ACTIVE = "active", _("有效")
    TERMINATED = "terminated", _("已终止")


class AdminRole(models.TextChoices):
    """JL-A2 (GB/T 22239-2019 8.1.4.2 d, 三员分立): the three platform administrators.

    None of them sees patient or case data; a person holds at most one of them and no facility or
    regulator role beside it (``facilities.rules.admin_role_checks``).
    """

    SYSTEM = "system_admin", _("系统管理员")
    SECURITY = "security_admin", _("安全管理员")
    AUDIT = "audit_admin", _("审计管理员")


class EvaluationGrade(models.TextChoices):
    """JL-O3 (art. 47): the three grades of the yearly evaluation."""

    EXCELLENT = "excellent", _("优秀")
    PASS = "pass", _("合格")
    FAIL = "fail", _("不合格")
