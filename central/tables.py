"""Every table central keeps (SQLAlchemy Core), on one ``metadata``: the spine (gateways,
records, blocks, rejections), then registry, escrow and warning tables.  Imports nothing of
central, so any module (and Alembic) can import it alone.

Column names are the national interface's field names (standards.md §1.3), so exports and the
API use them unchanged.  Personal fields end in ``Enc`` (SM4-GCM, see crypto.py) or ``Index``
(keyed SM3); money is integer fen; dates are dates in China time.
"""
from __future__ import annotations

import sqlalchemy as sa

from uplink.wire import ZERO_HASH

metadata = sa.MetaData()

gateways = sa.Table(
    "gateways", metadata,
    sa.Column("gw_id", sa.String(64), primary_key=True),
    sa.Column("public_key", sa.String(128), nullable=False),
    sa.Column("project", sa.String(64)),
    sa.Column("label", sa.String(200)),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("head_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("head_hash", sa.String(64), nullable=False, default=ZERO_HASH),
    sa.Column("last_seen", sa.BigInteger),
    # re-sent blocks already stored, counted here (not one rejection row each), and parked
    # blocks whose predecessor never came (expired): migration 0007
    sa.Column("replays", sa.BigInteger, nullable=False, server_default="0", default=0),
    sa.Column("last_replay_at", sa.BigInteger),
    sa.Column("parked_expired", sa.BigInteger, nullable=False, server_default="0", default=0),
    sa.Column("last_parked_expired_at", sa.BigInteger),
)

records = sa.Table(
    "records", metadata,
    sa.Column("gw_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("block_first", sa.BigInteger, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

blocks = sa.Table(
    "blocks", metadata,
    sa.Column("gw_id", sa.String(64), primary_key=True),
    sa.Column("first", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("last", sa.BigInteger, nullable=False),
    sa.Column("head", sa.String(64), nullable=False),
    sa.Column("sealed", sa.BigInteger, nullable=False),
    sa.Column("signed", sa.LargeBinary, nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
)

rejections = sa.Table(
    "rejections", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("gw_id", sa.String(64)),
    sa.Column("topic", sa.String(200)),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
)

S, D, B, I = sa.String, sa.Date, sa.BigInteger, sa.Integer  # noqa: E741 - column types, one letter each


def _c(name, type_, *args, **kw):
    kw.setdefault("nullable", not kw.get("primary_key", False))
    return sa.Column(name, type_, *args, **kw)


companies = sa.Table(
    "companies", metadata,
    _c("corpCode", S(18), primary_key=True),
    _c("corpName", S(200), nullable=False),
    _c("areaCode", S(6)),
    _c("address", S(300)),
    _c("legalMan", S(100)),
    _c("createdAt", B, nullable=False),
)

projects = sa.Table(
    "projects", metadata,
    _c("projectCode", S(64), primary_key=True),
    _c("name", S(200), nullable=False),
    _c("category", S(2)),
    _c("contractorCorpCode", S(18), sa.ForeignKey("companies.corpCode"), nullable=False),
    _c("buildCorpCode", S(18), sa.ForeignKey("companies.corpCode")),
    _c("areaCode", S(6), nullable=False),
    _c("address", S(300)),
    _c("prjStatus", S(3), nullable=False),
    _c("invest", B),                       # contract value, fen
    _c("labourCostMonthly", B),            # agreed monthly labour cost into the account, fen
    _c("contractSignDate", D),
    _c("startDate", D),
    _c("completeDate", D),
    _c("builderLicenseNum", S(64)),
    _c("laborManagerNameEnc", sa.Text),
    _c("laborManagerIdIndex", S(64)),
    _c("laborManagerIdMasked", S(32)),
    _c("laborManagerPhoneEnc", sa.Text),
    _c("noticeBoardDate", D),              # rights-notice board photo uploaded
    _c("depositExempt", sa.Boolean, nullable=False, default=False),
    _c("payDay", I),                       # day of next month wages are due [P]
    _c("createdAt", B, nullable=False),
    # what the province rules need (rules.py): sector, push schedule, dates, managers
    _c("sector", S(12)),                   # building | municipal | transport | water | ...
    _c("pushSchedule", S(12)),             # daily (None) | semimonthly (seed 001 II(4))
    _c("permitDate", D),                   # 施工许可证发放日期
    _c("contractStartDate", D),            # 合同开工日期
    _c("labourCostRatio", I),              # labour cost share of progress payments, 1/10000
    _c("tripartiteAgreementRef", S(100)),  # 三方协议 (client, contractor, bank)
    _c("laborManagerIdEnc", sa.Text),
    _c("laborManagerSetAt", B),            # when central learnt of the labour manager
    _c("projectManagerNameEnc", sa.Text),
    _c("projectManagerIdEnc", sa.Text),
    _c("projectManagerIdIndex", S(64)),
    _c("projectManagerIdMasked", S(32)),
    _c("projectManagerPhoneEnc", sa.Text),
    _c("projectLeadNameEnc", sa.Text),
    _c("projectLeadIdEnc", sa.Text),
    _c("projectLeadIdIndex", S(64)),
    _c("projectLeadIdMasked", S(32)),
    _c("projectLeadPhoneEnc", sa.Text),
)

project_companies = sa.Table(
    "project_companies", metadata,
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), primary_key=True),
    _c("corpCode", S(18), sa.ForeignKey("companies.corpCode"), primary_key=True),
    _c("corpType", S(3), nullable=False),
    _c("entryTime", D),
    _c("exitTime", D),
    _c("pmNameEnc", sa.Text),
    _c("pmIdCardNumberEnc", sa.Text),
    _c("pmIdMasked", S(32)),
    _c("pmPhoneEnc", sa.Text),
)

teams = sa.Table(
    "teams", metadata,
    _c("teamSysNo", I, primary_key=True, autoincrement=True),
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False),
    _c("corpCode", S(18), sa.ForeignKey("companies.corpCode"), nullable=False),
    _c("teamName", S(100), nullable=False),
    _c("entryTime", D),
    _c("exitTime", D),
    sa.UniqueConstraint("projectCode", "teamName"),
)

workers = sa.Table(
    "workers", metadata,
    _c("workerId", S(32), primary_key=True),
    _c("idCardType", S(2), nullable=False),
    _c("idCardIndex", S(64), nullable=False, unique=True),
    _c("idCardNumberEnc", sa.Text, nullable=False),
    _c("idCardMasked", S(32), nullable=False),
    _c("workerNameEnc", sa.Text, nullable=False),
    _c("gender", S(1)),
    _c("birthDate", D),
    _c("nation", S(20)),
    _c("cultureLevelType", S(2)),
    _c("cellPhoneEnc", sa.Text),
    _c("createdAt", B, nullable=False),
    _c("addressEnc", sa.Text),             # 住址 (read from the ID card)
    _c("nativePlaceEnc", sa.Text),         # 籍贯
    _c("householdRegionEnc", sa.Text),     # 户籍所在地行政区域代码
)

project_workers = sa.Table(
    "project_workers", metadata,
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), primary_key=True),
    _c("workerId", S(32), sa.ForeignKey("workers.workerId"), primary_key=True),
    _c("teamSysNo", I, sa.ForeignKey("teams.teamSysNo")),
    _c("corpCode", S(18), sa.ForeignKey("companies.corpCode"), nullable=False),
    _c("workType", S(4), nullable=False),
    _c("workRole", S(2), nullable=False),
    _c("isTeamLeader", sa.Boolean, nullable=False, default=False),
    _c("cardNumber", S(32)),
    _c("payRollBankCardNumberEnc", sa.Text),
    _c("payRollBankCardMasked", S(32)),
    _c("payRollTopBankCode", S(8)),
    _c("isLaborManager", sa.Boolean, nullable=False, default=False),
    _c("entryDate", D, nullable=False),
    _c("exitDate", D),
    _c("faceTemplateEnc", sa.Text),
)

entry_exits = sa.Table(
    "entry_exits", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("projectCode", S(64), nullable=False),
    _c("workerId", S(32), nullable=False),
    _c("date", D, nullable=False),
    _c("type", S(1), nullable=False),
)

contracts = sa.Table(
    "contracts", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False),
    _c("workerId", S(32), sa.ForeignKey("workers.workerId"), nullable=False),
    _c("corpCode", S(18), nullable=False),
    _c("contractPeriodType", S(1), nullable=False),
    _c("startDate", D, nullable=False),
    _c("endDate", D),
    _c("unitPrice", B),
    _c("signDate", D),
    _c("wageMethod", S(8)),                # 工资计算方式 (codes.WAGE_METHOD)
    _c("payDay", I),                       # 工资支付日期: day of the month
)

certificates = sa.Table(
    "certificates", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("workerId", S(32), sa.ForeignKey("workers.workerId"), nullable=False),
    _c("certType", S(8), nullable=False),
    _c("certNo", S(64)),
    _c("validTo", D),
)

blacklist = sa.Table(
    "blacklist", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("subjectType", S(8), nullable=False),     # worker | company
    _c("subjectId", S(32), nullable=False),
    _c("reason", S(300), nullable=False),
    _c("fromDate", D, nullable=False),
    _c("toDate", D),
)

roster_changes = sa.Table(
    "roster_changes", metadata,
    _c("version", I, primary_key=True, autoincrement=True),
    _c("projectCode", S(64), nullable=False, index=True),
    _c("workerId", S(32), nullable=False),
    _c("entry", sa.Text),                        # canonical JSON, None = removed
    _c("at", B, nullable=False),
)

gateway_roster = sa.Table(
    "gateway_roster", metadata,
    _c("gw_id", S(64), primary_key=True),
    _c("version", I, nullable=False),
    _c("at", B, nullable=False),
)

pending_blocks = sa.Table(        # verified blocks that arrived before their predecessor
    "pending_blocks", metadata,
    _c("gw_id", S(64), primary_key=True),
    _c("first", B, primary_key=True, autoincrement=False),
    _c("last", B, nullable=False),
    _c("payload", sa.LargeBinary, nullable=False),
    _c("received_at", B, nullable=False),
)

registrations = sa.Table(        # workers registered on site (gateway ``registration`` records)
    "registrations", metadata,
    _c("gw_id", S(64), primary_key=True),
    _c("seq", B, primary_key=True, autoincrement=False),
    _c("projectCode", S(64), index=True),
    _c("gatewayWorker", S(32), nullable=False),     # the gateway's roster id (its attendance ids)
    _c("workerId", S(32)),                          # registry worker, once there is one
    _c("cardType", S(32)),
    _c("idCardIndex", S(64)),
    _c("idCardMasked", S(32)),
    _c("idCardNumberEnc", sa.Text),
    _c("workerNameEnc", sa.Text),
    _c("teamName", S(100)),
    _c("workType", S(4)),
    _c("specialOp", S(8)),
    _c("contractEnd", D),
    _c("certValidTo", D),
    _c("state", S(12), nullable=False),             # pending | invalid
    _c("reason", S(300)),
    _c("registeredAt", B, nullable=False),
)

held_blocks = sa.Table(           # signed blocks refused for good: evidence, and what
    "held_blocks", metadata,      # `sitegate-central quarantine accept` takes
    _c("gw_id", S(64), primary_key=True),
    _c("first", B, primary_key=True, autoincrement=False),
    _c("last", B, nullable=False),
    _c("kind", S(32), nullable=False),
    _c("reason", S(300), nullable=False),
    _c("payload", sa.LargeBinary, nullable=False),
    _c("received_at", B, nullable=False),
)

unstored = sa.Table(              # links of a gateway's chain that central holds no records for:
    "unstored", metadata,         # cause "quarantined" (operator) or "damaged" (gateway's report)
    _c("gw_id", S(64), primary_key=True),
    _c("first", B, primary_key=True, autoincrement=False),
    _c("last", B, nullable=False),
    _c("prev", S(64), nullable=False),
    _c("head", S(64), nullable=False),
    _c("cause", S(16), nullable=False),
    _c("kind", S(32), nullable=False),        # the rejection kind that led to a quarantine
    _c("reason", S(300), nullable=False),
    _c("note", S(300), nullable=False),       # the operator's statement ("" for damage)
    _c("signed", sa.LargeBinary, nullable=False),
    _c("signature", sa.LargeBinary, nullable=False),
    _c("at", B, nullable=False),
)

attendance_days = sa.Table(
    "attendance_days", metadata,
    _c("projectCode", S(64), primary_key=True),
    _c("workerId", S(32), primary_key=True),
    _c("day", D, primary_key=True),
    _c("firstIn", B, nullable=False),
)

# ------------------------------------------------------------------ escrow
special_accounts = sa.Table(
    "special_accounts", metadata,
    _c("accountId", I, primary_key=True, autoincrement=True),
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False),
    _c("accountName", S(300), nullable=False),
    _c("bankCode", S(8), nullable=False),
    _c("accountNoEnc", sa.Text, nullable=False),
    _c("accountNoIndex", S(64), nullable=False, unique=True),
    _c("accountMasked", S(40), nullable=False),
    _c("openedDate", D, nullable=False),
    _c("agreementRef", S(100)),
    _c("closedDate", D),
    _c("receivedAt", B),                   # when central stored the opening (ms)
    _c("closedBy", S(100)),
    _c("closedReceivedAt", B),
)

account_flows = sa.Table(
    "account_flows", metadata,
    _c("bankSerial", S(64), primary_key=True),
    _c("accountId", I, sa.ForeignKey("special_accounts.accountId"), nullable=False),
    _c("projectCode", S(64), nullable=False, index=True),
    _c("valueDate", D, nullable=False),
    _c("direction", S(3), nullable=False),       # in | out
    _c("kind", S(16), nullable=False),
    _c("amount", B, nullable=False),
    _c("forMonth", S(7)),
    _c("balanceAfter", B),                 # 账户余额 after this flow
    _c("counterpartyName", S(200)),        # 对方户名 (inflows)
    _c("counterpartyAccountEnc", sa.Text),
    _c("counterpartyAccountMasked", S(40)),
    _c("receivedAt", B),                   # when central stored it (ms)
)

payroll_lines = sa.Table(
    "payroll_lines", metadata,
    _c("thirdPayRollCode", S(64), primary_key=True),     # payroll serial
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False, index=True),
    _c("corpCode", S(18), nullable=False),
    _c("teamSysNo", I),
    _c("workerId", S(32), sa.ForeignKey("workers.workerId"), nullable=False),
    _c("payMonth", S(7), nullable=False),
    _c("days", I, nullable=False),
    _c("workHours", I),
    _c("totalPayAmount", B, nullable=False),
    _c("actualAmount", B, nullable=False),
    _c("isBackPay", sa.Boolean, nullable=False, default=False),
    _c("isFinal", sa.Boolean, nullable=False, default=False),   # settlement on exit
    _c("balanceDate", D, nullable=False),
    _c("bankSerial", S(64), sa.ForeignKey("account_flows.bankSerial"), nullable=False,
       unique=True),
    _c("paymentMethod", S(12)),            # 工资支付方式 (codes.PAYMENT_METHOD)
)

deposits = sa.Table(
    "deposits", metadata,
    _c("depositId", I, primary_key=True, autoincrement=True),
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False),
    _c("form", S(20), nullable=False),
    _c("issuer", S(200), nullable=False),
    _c("guaranteeNo", S(64), nullable=False, unique=True),
    _c("validFrom", D, nullable=False),
    _c("validTo", D),
    _c("payerName", S(200)),               # 缴纳主体名称
    _c("payerCorpCode", S(18)),
    _c("amountDue", B),                    # 应缴金额
    _c("reductionAmount", B),              # 差异化缴存 (reduced by)
)

deposit_events = sa.Table(
    "deposit_events", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("depositId", I, sa.ForeignKey("deposits.depositId"), nullable=False),
    _c("date", D, nullable=False),
    _c("type", S(8), nullable=False),
    _c("amount", B, nullable=False),
    _c("ref", S(100)),
)

payment_guarantees = sa.Table(
    "payment_guarantees", metadata,
    _c("guaranteeNo", S(64), primary_key=True),
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False),
    _c("issuer", S(200), nullable=False),
    _c("amount", B, nullable=False),
    _c("validFrom", D, nullable=False),
    _c("validTo", D, nullable=False),
    _c("issuerCorpCode", S(18)),
    _c("receivedDate", D),                 # the contractor received the guarantee
    _c("receivedAt", B),                   # when central stored it (ms)
)

progress_payments = sa.Table(      # 工程款: client -> contractor, basis of the labour-cost ratio
    "progress_payments", metadata,
    _c("ref", S(64), primary_key=True),
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False, index=True),
    _c("paidDate", D, nullable=False),
    _c("forMonth", S(7), nullable=False),
    _c("amount", B, nullable=False),
)

complaints = sa.Table(
    "complaints", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("projectCode", S(64), sa.ForeignKey("projects.projectCode"), nullable=False),
    _c("openedDate", D, nullable=False),
    _c("severity", S(8), nullable=False),
    _c("closedDate", D),
)

# ------------------------------------------------------------------ warnings
warnings_t = sa.Table(
    "warnings", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("rule", S(4), nullable=False),
    _c("subjectType", S(8), nullable=False),
    _c("subjectId", S(64), nullable=False),
    _c("projectCode", S(64), nullable=False, index=True),
    _c("period", S(16), nullable=False),  # a day + "#n" for a later episode needs 12+
    _c("level", S(8), nullable=False),
    _c("state", S(20), nullable=False),
    _c("openedOn", D, nullable=False),
    _c("dueOn", D, nullable=False),
    _c("tier", I, nullable=False, default=0),          # 0 county, 1 city, 2 province
    _c("details", sa.Text),
    _c("clearedOn", D),
    _c("clearedBy", S(100)),
    _c("clearReason", S(500)),
    _c("evidence", sa.Text),
    _c("extensionDays", I),
    _c("extensionReason", S(500)),
    _c("updatedAt", B, nullable=False),
    _c("source", sa.Text),                 # the rule's parameters and their sources
    _c("responsible", S(16)),              # rules.PARTIES
    _c("responsibleCorp", S(18)),
    _c("extensionRequestedBy", S(100)),
    _c("extensionRequestedRole", S(8)),
    sa.UniqueConstraint("rule", "subjectType", "subjectId", "period", name="uq_warning_key"),
)

warning_events = sa.Table(
    "warning_events", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("warningId", I, sa.ForeignKey("warnings.id"), nullable=False, index=True),
    _c("on", D, nullable=False),
    _c("fromState", S(20)),
    _c("toState", S(20), nullable=False),
    _c("level", S(8), nullable=False),
    _c("actor", S(100), nullable=False),
    _c("note", S(500)),
    _c("at", B, nullable=False),
)

rule_params = sa.Table(
    "rule_params", metadata,
    _c("region", S(6), primary_key=True),       # "*" or a province prefix like "45"
    _c("rule", S(4), primary_key=True),
    _c("key", S(32), primary_key=True),
    _c("value", S(100), nullable=False),
    _c("source", S(300)),
)

notify_targets = sa.Table(         # where a region's parties receive warnings (Apprise URLs)
    "notify_targets", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("region", S(6), nullable=False),         # "*" or a province prefix
    _c("party", S(16), nullable=False),         # rules.PARTIES
    _c("urlEnc", sa.Text, nullable=False),      # SM4-sealed: webhook keys are secrets
    _c("urlMasked", S(200), nullable=False),
    _c("createdAt", B, nullable=False),
)

notifications = sa.Table(          # outbox: written with the warning change, sent after commit
    "notifications", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("warningId", I, sa.ForeignKey("warnings.id"), nullable=False, index=True),
    _c("event", S(20), nullable=False),
    _c("parties", S(100), nullable=False),
    _c("region", S(6), nullable=False),
    _c("createdAt", B, nullable=False),
    _c("status", S(12), nullable=False),        # pending | sent | no_target
    _c("attempts", I, nullable=False),
    _c("sentAt", B),
    _c("lastError", S(300)),
)

api_tokens = sa.Table(
    "api_tokens", metadata,
    _c("tokenIndex", S(64), primary_key=True),
    _c("name", S(100), nullable=False),
    _c("role", S(8), nullable=False),           # read | party | official | admin
    _c("createdAt", B, nullable=False),
)

# ------------------------------------------------------------------ platform connector
# (central/platform/: push to national/provincial platforms, bank intake)
platform_jobs = sa.Table(          # the delivery queue: one job per object version and target
    "platform_jobs", metadata,
    _c("id", I, primary_key=True, autoincrement=True),
    _c("target", S(32), nullable=False),
    _c("kind", S(16), nullable=False),          # project | company | team | worker | ...
    _c("projectCode", S(64), nullable=False, index=True),
    _c("objectKey", S(200), nullable=False),
    _c("version", S(64), nullable=False),       # keyed SM3 of the source rows
    _c("idemKey", S(300), nullable=False, unique=True),
    _c("payloadEnc", sa.Text, nullable=False),  # SM4-GCM: business data with ID numbers
    _c("refs", sa.Text),                        # source references (attendance: gw, seqs)
    _c("records", I, nullable=False),           # records carried (progress)
    _c("state", S(12), nullable=False),         # queued | sending | submitted | done |
    #                                             parked | superseded
    _c("attempts", I, nullable=False),
    _c("nextAt", B, nullable=False),            # not before (ms)
    _c("deadlineAt", B),                        # the province's deadline (ms)
    _c("deadlineSource", S(200)),
    _c("leaseUntil", B),
    _c("owner", S(64)),
    _c("method", S(48)),                        # the platform method last used
    _c("serial", S(100)),                       # requestSerialCode
    _c("sentAt", B),
    _c("lastError", S(500)),
    _c("reason", S(500)),                       # the platform's reason when parked
    _c("resolvedBy", S(16)),                    # answer | query | duplicate | operator
    _c("remoteId", S(64)),                      # id the platform assigned (teamSysNo)
    _c("createdAt", B, nullable=False),
    _c("updatedAt", B, nullable=False),
    _c("doneAt", B),
    sa.Index("ix_platform_jobs_due", "state", "nextAt"),
    sa.Index("ix_platform_jobs_object", "target", "objectKey"),
)

platform_objects = sa.Table(       # the newest version of each object planned for a target
    "platform_objects", metadata,
    _c("target", S(32), primary_key=True),
    _c("kind", S(16), primary_key=True),
    _c("objectKey", S(200), primary_key=True),
    _c("version", S(64), nullable=False),
    _c("jobId", I, nullable=False),
    _c("remoteId", S(64)),                      # e.g. the platform's teamSysNo
    _c("deliveredVersion", S(64)),              # the version the platform holds
)

platform_cursors = sa.Table(       # attendance records planned, per target and gateway
    "platform_cursors", metadata,
    _c("target", S(32), primary_key=True),
    _c("gw_id", S(64), primary_key=True),
    _c("seq", B, nullable=False),
)

bank_credentials = sa.Table(       # banks that push special-account data to central
    "bank_credentials", metadata,
    _c("bankCode", S(8), primary_key=True),
    _c("name", S(100), nullable=False),
    _c("secretEnc", sa.Text, nullable=False),   # SM4-GCM: the bank's signing secret
    _c("enabled", sa.Boolean, nullable=False, default=True),
    _c("createdAt", B, nullable=False),
)

bank_events = sa.Table(            # every bank push, idempotent on (bank, serial)
    "bank_events", metadata,
    _c("bankCode", S(8), primary_key=True),
    _c("serial", S(64), primary_key=True),
    _c("kind", S(8), nullable=False),           # open | change | close | flow
    _c("projectCode", S(64), nullable=False, index=True),
    _c("eventDate", D, nullable=False),         # the day the event happened at the bank
    _c("digest", S(64), nullable=False),        # keyed SM3 of the body: a re-send must match
    _c("receivedAt", B, nullable=False),        # when central stored it (ms)
)
