from django.db import models
from django.utils.translation import gettext_lazy as _


class Outcome(models.TextChoices):
    SUCCESS = "success", _("成功")
    FAILURE = "failure", _("失败")


class HashAlgorithm(models.TextChoices):
    """The audit chain's hash functions (JL-A1; issue 13, 密评): the one each event was hashed with."""

    SHA256 = "sha256", "SHA-256"
    SM3 = "sm3", "SM3"


class QCPeriod(models.TextChoices):
    """JL-O2 (art. 26, 27): how often a quality-control plan draws its sample."""

    MONTH = "month", _("每月")
    QUARTER = "quarter", _("每季度")


class EventType(models.TextChoices):
    """Every event type the audit log knows (JL-A1): the stored dotted value, one Chinese label.

    ``audit.services.audit_event_append`` refuses any other value, so a new event type is added
    here first. The label is what pages, the API and FHIR ``AuditEvent.type.display`` show.
    """

    # Consultations (JL-C1..C7)
    CONSULTATION_CREATE = "consultation.create", _("创建申请（草稿）")
    CONSULTATION_CONSENT = "consultation.consent", _("记录知情同意")
    CONSULTATION_PARTICIPANT_ADD = "consultation.participant.add", _("指定邀请方经治医师")
    CONSULTATION_SEND = "consultation.send", _("发送申请")
    CONSULTATION_ACCEPT = "consultation.accept", _("受理")
    CONSULTATION_DECLINE = "consultation.decline", _("拒绝")
    CONSULTATION_RETURN_MATERIAL = "consultation.return_material", _("退回补充资料")
    CONSULTATION_CANCEL = "consultation.cancel", _("取消申请")
    CONSULTATION_EXPERT_ASSIGN = "consultation.expert.assign", _("指定会诊专家")
    CONSULTATION_SCHEDULE = "consultation.schedule", _("排期")
    CONSULTATION_START_SESSION = "consultation.start_session", _("开始会诊")
    CONSULTATION_CLOSE = "consultation.close", _("确认收到并结束")
    CONSULTATION_RATE = "consultation.rate", _("满意度评价")
    DOCUMENT_UPLOAD = "document.upload", _("上传病历资料")
    DOCUMENT_RETURN = "document.return", _("退回病历资料")
    DOCUMENT_DOWNLOAD = "document.download", _("下载病历资料")
    OPINION_SIGN = "opinion.sign", _("签发意见/报告")
    OPINION_CORRECT = "opinion.correct", _("签发更正版本")
    RESPONSIBILITY_RECORD = "responsibility.record", _("记录责任认定")
    # Two-way referral (JL-C10)
    REFERRAL_OFFER = "referral.offer", _("提供转诊安排")
    REFERRAL_CONFIRM = "referral.confirm", _("确认转诊安排")
    REFERRAL_DECLINE = "referral.decline", _("谢绝转诊安排")
    REFERRAL_TRANSFER = "referral.transfer", _("登记患者转出")
    REFERRAL_CANCEL = "referral.cancel", _("取消转诊")
    REFERRAL_REFUSE = "referral.refuse", _("拒绝办理转诊")
    # The 24-hour rule (JL-C2) and the patient
    OBLIGATION_OPEN = "obligation.open", _("产生24小时上传义务")
    OBLIGATION_MET = "obligation.met", _("按时完成24小时上传义务")
    OBLIGATION_VIOLATED = "obligation.violated", _("24小时上传义务超时")
    OBLIGATION_WITHDRAW = "obligation.withdraw", _("撤销24小时上传义务")
    PATIENT_REGISTER = "patient.register", _("患者建档")
    ADMISSION_RECORD = "admission.record", _("记录入院")
    ADMISSION_DIAGNOSIS = "admission.diagnosis", _("记录明确诊断")
    ADMISSION_DISCHARGE = "admission.discharge", _("记录出院")
    # Medical records under the law (JL-C8, JL-C9)
    RECORD_VIEW = "record.view", _("调阅病历")
    RECORD_LIST = "record.list", _("列表调阅")
    RECORD_DOWNLOAD = "record.download", _("下载病历资料")
    RECORD_EXPORT = "record.export", _("导出病历")
    RECORD_REVEAL = "record.reveal", _("查看完整证件号码")
    RECORD_SEAL = "record.seal", _("封存病历")
    RECORD_UNSEAL = "record.unseal", _("启封病历")
    RECORD_CHANGE_REFUSE = "record.change.refuse", _("拒绝修改封存病历")
    RECORD_ACCESS_REFUSE = "record.access.refuse", _("拒绝未说明目的的封存病历调阅")
    # Facilities (JL-F1..F5) and their people
    FACILITY_REGISTER = "facility.register", _("登记医疗机构")
    FACILITY_UPDATE = "facility.update", _("修改医疗机构信息")
    FACILITY_ACCREDITATION_APPLY = "facility.accreditation.apply", _("申请评估验收")
    FACILITY_ACCREDITATION_DECIDE = "facility.accreditation.decide", _("评估验收审批")
    FACILITY_AGREEMENT_REGISTER = "facility.agreement.register", _("登记合作协议")
    FACILITY_AGREEMENT_TERMINATE = "facility.agreement.terminate", _("终止合作协议")
    FACILITY_DUTY_ADD = "facility.duty.add", _("排班")
    FACILITY_SUSPENSION_REPORT = "facility.suspension.report", _("暂停远程医疗服务并报告")
    FACILITY_SUSPENSION_LIFT = "facility.suspension.lift", _("解除暂停")
    FACILITY_SUSPENSION_FOLLOW_UP = "facility.suspension.follow_up", _("暂停报告跟进")
    FACILITY_ASSET_REGISTER = "facility.asset.register", _("登记远程医疗设备或软件")
    FACILITY_ASSET_STATUS = "facility.asset.status", _("变更远程医疗设备或软件状态")
    FACILITY_ASSET_MAINTENANCE = "facility.asset.maintenance", _("登记设备维护")
    FACILITY_ASSET_REFUSE = "facility.asset.refuse", _("拒绝设备登记或维护登记")
    FACILITY_CHECK_REFUSE = "facility.check.refuse", _("机构条件不符，拒绝办理")
    FACILITY_SERVICE_TYPE_ADD = "facility.service_type.add", _("增设远程医疗服务项目")
    FACILITY_SERVICE_TYPE_STANDARD = "facility.service_type.standard", _("设定诊断报告标准时长")
    ASSISTANCE_EXPORT = "assistance.export", _("导出对口帮扶计入时间")
    FACILITY_SERVICE_TYPE_REPORT_TEMPLATE = "facility.service_type.report_template", _("设置意见/报告模板")
    MEMBERSHIP_GRANT = "membership.grant", _("授予机构角色")
    MEMBERSHIP_REVOKE = "membership.revoke", _("撤销机构角色")
    MEMBERSHIP_REGULATOR_GRANT = "membership.regulator.grant", _("授予监管角色")
    # 三员分立 (JL-A2): the system, security and audit administrators
    MEMBERSHIP_ADMIN_GRANT = "membership.admin.grant", _("授予三员管理员角色")
    MEMBERSHIP_ADMIN_REVOKE = "membership.admin.revoke", _("撤销三员管理员角色")
    ACCOUNT_CREATE = "account.create", _("创建账号")
    # Physicians (JL-P1..P6)
    PHYSICIAN_REGISTER = "physician.register", _("登记医师")
    PHYSICIAN_QUALIFICATIONS_UPDATE = "physician.qualifications.update", _("更新医师资质")
    PHYSICIAN_PLATFORM_REGISTER = "physician.platform_register", _("医师平台注册")
    PHYSICIAN_REGISTRATION_VERIFY = "physician.registration.verify", _("核实执业注册")
    PHYSICIAN_AUTHORISATION_GRANT = "physician.authorisation.grant", _("授权开展远程医疗")
    PHYSICIAN_AUTHORISATION_REVOKE = "physician.authorisation.revoke", _("撤销远程医疗授权")
    PHYSICIAN_QUALIFICATION_ATTEND = "physician.qualification.attend", _("经治医师资质核验")
    PHYSICIAN_QUALIFICATION_ASSIGN = "physician.qualification.assign", _("专家资质核验（指定）")
    PHYSICIAN_QUALIFICATION_ACCEPT = "physician.qualification.accept", _("医师资质核验（受理）")
    PHYSICIAN_QUALIFICATION_SIGN = "physician.qualification.sign", _("专家资质核验（签发）")
    # Billing (JL-B1..B6)
    BILLING_PRICE_STANDARD_PUBLISH = "billing.price_standard.publish", _("发布收费标准")
    BILLING_PRICE_SET = "billing.price.set", _("设定机构价格")
    BILLING_CHARGE_CREATE = "billing.charge.create", _("生成收费记录")
    BILLING_CHARGE_MISSING_PRICE = "billing.charge.missing_price", _("缺少价格，未能生成收费记录")
    BILLING_CHARGE_PAYMENT = "billing.charge.payment", _("登记缴费")
    BILLING_CHARGE_REVERSE = "billing.charge.reverse", _("冲销收费记录")
    BILLING_ACCOUNT_REGISTER = "billing.account.register", _("登记结算专户")
    BILLING_STATEMENT_DRAFT = "billing.statement.draft", _("生成结算单")
    BILLING_STATEMENT_CONFIRM = "billing.statement.confirm", _("确认结算单")
    BILLING_STATEMENT_PAID = "billing.statement.paid", _("登记结算到账")
    BILLING_STATEMENT_EXPORT = "billing.statement.export", _("导出结算单")
    BILLING_ALLOCATION_ADOPT = "billing.allocation.adopt", _("采用内部分配方案")
    BILLING_PAYOUT_DRAFT = "billing.payout.draft", _("生成医务人员绩效分配表")
    BILLING_PAYOUT_CONFIRM = "billing.payout.confirm", _("确认医务人员绩效分配表")
    BILLING_PAYOUT_EXPORT = "billing.payout.export", _("导出医务人员绩效分配表")
    # Sign-in security (JL-A2, GB/T 22239-2019 8.1.4.1)
    AUTH_LOGIN = "auth.login", _("登录")
    AUTH_LOGIN_FAILED = "auth.login_failed", _("登录失败")
    AUTH_LOCKOUT = "auth.lockout", _("登录失败次数过多，锁定")
    AUTH_UNLOCK = "auth.unlock", _("解除登录锁定")
    AUTH_LOGOUT = "auth.logout", _("退出登录")
    AUTH_PASSWORD_CHANGED = "auth.password_changed", _("修改密码")
    AUTH_PASSWORD_REFUSED = "auth.password_refused", _("新密码不符合要求，拒绝修改")
    AUTH_SESSION_TIMEOUT = "auth.session_timeout", _("会话超时退出")
    AUTH_SESSION_REPLACED = "auth.session_replaced", _("重新登录，结束此前的会话")
    # Encryption at rest (JL-A2, GB/T 22239-2019 8.1.4.8)
    DATA_KEY_ROTATE = "security.data_key_rotate", _("更换数据密钥（重新加密患者证件号码和电话）")
    DATA_UNDECRYPTABLE = "security.data_undecryptable", _("数据无法解密（密钥缺失或数据被篡改）")
    AUTH_OTP_VERIFIED = "auth.otp_verified", _("双重认证通过")
    AUTH_OTP_FAILED = "auth.otp_failed", _("双重认证动态码错误")
    AUTH_OTP_ENROLLED = "auth.otp_enrolled", _("绑定双重认证身份验证器")
    AUTH_OTP_RECOVERY_USED = "auth.otp_recovery_used", _("使用双重认证恢复码")
    # The regulators' dashboard (issue 9, docs/metrics.md)
    METRICS_EXPORT = "metrics.export", _("导出监管统计")
    # Webhooks (issue 14, docs/architecture.md "Webhooks")
    WEBHOOK_SUBSCRIPTION_CREATE = "webhook.subscription.create", _("新建事件推送订阅")
    WEBHOOK_SUBSCRIPTION_DISABLE = "webhook.subscription.disable", _("停用事件推送订阅")
    WEBHOOK_DELIVERY_REDELIVER = "webhook.delivery.redeliver", _("重新推送事件")
    # Partner applications (issue 14, docs/architecture.md "Partner applications")
    OAUTH_CLIENT_ISSUE = "oauth.client.issue", _("登记对接应用并签发密钥")
    OAUTH_CLIENT_ROTATE = "oauth.client.rotate", _("轮换对接应用密钥")
    OAUTH_CLIENT_REVOKE = "oauth.client.revoke", _("吊销对接应用")
    OAUTH_TOKEN_ISSUE = "oauth.token.issue", _("向对接应用签发访问令牌")
    OAUTH_TOKEN_REFUSE = "oauth.token.refuse", _("拒绝向对接应用签发访问令牌")
    # Notifications (issue 12, docs/architecture.md "Notifications")
    NOTIFICATION_PREFERENCE_CHANGE = "notification.preference.change", _("修改通知设置")
    # Complaints (JL-O6): intake, the facility's steps, the regulators' notes and overrides
    COMPLAINT_RECEIVE = "complaint.receive", _("受理投诉")
    COMPLAINT_ACKNOWLEDGE = "complaint.acknowledge", _("确认收到投诉")
    COMPLAINT_INVESTIGATE = "complaint.investigate", _("投诉调查记录")
    COMPLAINT_ANSWER = "complaint.answer", _("答复投诉并认定")
    COMPLAINT_NOTE = "complaint.note", _("监管部门投诉意见")
    COMPLAINT_OVERRIDE = "complaint.override", _("监管部门变更投诉认定")
    COMPLAINT_REFUSE = "complaint.refuse", _("拒绝办理投诉操作")
    # Quality control (JL-O2, art. 26, 27)
    QC_CHECKLIST_DEFINE = "qc.checklist.define", _("发布质控评分表")
    QC_PLAN_CREATE = "qc.plan.create", _("制定质控计划")
    QC_PLAN_DEACTIVATE = "qc.plan.deactivate", _("停用质控计划")
    QC_DRAW = "qc.draw", _("质控随机抽样")
    QC_REVIEWER_ASSIGN = "qc.reviewer.assign", _("指定质控专家")
    QC_REVIEW_SUBMIT = "qc.review.submit", _("提交质控评分与反馈")
    QC_ANSWER = "qc.answer", _("机构提交整改情况")
    QC_ACCESS_EXPIRE = "qc.access.expire", _("质控调阅授权到期收回")
    QC_REFUSE = "qc.refuse", _("拒绝质控操作")
    # The yearly evaluation (JL-O3, art. 45-47)
    EVALUATION_FORMULA_PUBLISH = "evaluation.formula.publish", _("发布年度评价考核办法")
    EVALUATION_START = "evaluation.start", _("启动年度评价考核（计算初评等次）")
    EVALUATION_ADJUST = "evaluation.adjust", _("调整年度评价考核等次")
    EVALUATION_PUBLISH = "evaluation.publish", _("公布年度评价考核结果")
    EVALUATION_EXPORT = "evaluation.export", _("导出年度评价考核结果")
    EVALUATION_REFUSE = "evaluation.refuse", _("拒绝年度评价考核操作")
    # Random inspections, 双随机一公开 (JL-O6): the roster, the plan, the draw, results, publication
    INSPECTION_INSPECTOR_ADD = "inspection.inspector.add", _("将人员列入检查人员名录")
    INSPECTION_INSPECTOR_REMOVE = "inspection.inspector.remove", _("将人员移出检查人员名录")
    INSPECTION_PLAN_CREATE = "inspection.plan.create", _("制定随机抽查计划")
    INSPECTION_DRAW = "inspection.draw", _("随机抽取检查对象和检查人员")
    INSPECTION_FINDINGS = "inspection.findings", _("登记抽查结果与整改要求")
    INSPECTION_RECTIFY = "inspection.rectify", _("机构报告整改完成")
    INSPECTION_PUBLISH = "inspection.publish", _("公开抽查结果")
    INSPECTION_REFUSE = "inspection.refuse", _("拒绝随机抽查操作")
    # The audit log itself (JL-A1)
    AUDIT_CHAIN_VERIFY = "audit.chain.verify", _("审计链校验")
    AUDIT_CHAIN_VERIFY_REQUEST = "audit.chain.verify_request", _("发起审计链校验")
    AUDIT_LOG_READ = "audit.log.read", _("读取审计日志")
    AUDIT_CHECKPOINT_SIGN = "audit.checkpoint.sign", _("签署审计日志检查点")
    AUDIT_CHECKPOINT_DOWNLOAD = "audit.checkpoint.download", _("下载审计日志检查点")


class ComplaintState(models.TextChoices):
    """JL-O6: where a complaint stands (the graph is ``audit.complaint_rules.EDGES``)."""

    RECEIVED = "received", _("已受理")
    ACKNOWLEDGED = "acknowledged", _("已确认收到")
    INVESTIGATING = "investigating", _("调查中")
    ANSWERED = "answered", _("已答复（办结）")


class ComplaintChannel(models.TextChoices):
    PUBLIC_FORM = "public_form", _("网上投诉")
    STAFF_ENTRY = "staff_entry", _("电话或来访登记")


class ComplainantRelation(models.TextChoices):
    PATIENT = "patient", _("患者本人")
    FAMILY = "family", _("患者家属")
    OTHER = "other", _("其他")


class ComplaintStepKind(models.TextChoices):
    RECEIVE = "receive", _("受理")
    ACKNOWLEDGE = "acknowledge", _("确认收到")
    INVESTIGATE = "investigate", _("调查记录")
    ANSWER = "answer", _("答复")
    NOTE = "note", _("监管意见")
    OVERRIDE = "override", _("变更认定")


class InspectionResultState(models.TextChoices):
    """JL-O6: where the result of one drawn facility stands."""

    PENDING = "pending", _("待检查")
    CLEAN = "clean", _("未发现问题")
    RECTIFYING = "rectifying", _("整改中")
    RECTIFIED = "rectified", _("已整改")


class FindingSeverity(models.TextChoices):
    """JL-O6: how serious an inspection's findings are (the credit record deducts by it)."""

    NONE = "none", _("未发现问题")
    MINOR = "minor", _("一般问题")
    SERIOUS = "serious", _("严重问题")
