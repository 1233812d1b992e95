"""Every stable error code the server or the tablet can report, with its Chinese message.

The code is what programs match on; the message is what a cadre or clerk reads. Add new codes here,
never inline, so the wire contract stays in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # authentication and authorisation
    auth_invalid_credentials = "auth.invalid_credentials"
    auth_not_authenticated = "auth.not_authenticated"
    auth_token_invalid = "auth.token_invalid"
    auth_token_expired = "auth.token_expired"
    auth_user_disabled = "auth.user_disabled"
    auth_device_revoked = "auth.device_revoked"
    auth_device_id_invalid = "auth.device_id_invalid"
    auth_forbidden = "auth.forbidden"
    auth_session_ended = "auth.session_ended"
    auth_locked_out = "auth.locked_out"
    # protocol and envelope
    protocol_header_missing = "protocol.header_missing"
    protocol_version_unsupported = "protocol.version_unsupported"
    protocol_app_too_old = "protocol.app_too_old"
    request_malformed = "request.malformed"
    request_too_large = "request.too_large"
    request_too_many_changes = "request.too_many_changes"
    request_gzip_invalid = "request.gzip_invalid"
    request_cursor_invalid = "request.cursor_invalid"
    request_body_too_large = "request.body_too_large"
    request_data_invalid = "request.data_invalid"
    # per-field validation
    validation_field_unknown = "validation.field_unknown"
    validation_field_required = "validation.field_required"
    validation_field_readonly = "validation.field_readonly"
    validation_type_invalid = "validation.type_invalid"
    validation_enum_invalid = "validation.enum_invalid"
    validation_too_long = "validation.too_long"
    validation_out_of_range = "validation.out_of_range"
    validation_id_number_invalid = "validation.id_number_invalid"
    validation_id_number_checksum = "validation.id_number_checksum"
    validation_id_number_birth_date = "validation.id_number_birth_date"
    validation_id_number_region = "validation.id_number_region"
    validation_id_number_region_year = "validation.id_number_region_year"
    validation_region_code_invalid = "validation.region_code_invalid"
    validation_phone_invalid = "validation.phone_invalid"
    validation_date_invalid = "validation.date_invalid"
    validation_date_out_of_range = "validation.date_out_of_range"
    validation_birth_date_invalid = "validation.birth_date_invalid"
    validation_control_char = "validation.control_char"
    validation_amount_invalid = "validation.amount_invalid"
    validation_coordinates_invalid = "validation.coordinates_invalid"
    validation_attachment_id_invalid = "validation.attachment_id_invalid"
    validation_uuid_invalid = "validation.uuid_invalid"
    validation_template_unknown = "validation.template_unknown"
    validation_item_unknown = "validation.item_unknown"
    validation_id_number_gender_mismatch = "validation.id_number_gender_mismatch"
    validation_id_number_birth_mismatch = "validation.id_number_birth_mismatch"
    validation_health_conflict = "validation.health_conflict"
    validation_member_dates = "validation.member_dates"
    validation_reason_without_date = "validation.reason_without_date"
    validation_income_item_kind = "validation.income_item_kind"
    # records and sync
    record_not_found = "record.not_found"
    report_not_found = "report.not_found"
    report_period_invalid = "report.period_invalid"
    card_font_missing = "card.font_missing"
    card_too_many = "card.too_many"
    reconcile_file_invalid = "reconcile.file_invalid"
    scope_out_of_scope = "scope.out_of_scope"
    sync_entity_unknown = "sync.entity_unknown"
    sync_op_invalid = "sync.op_invalid"
    sync_base_version_invalid = "sync.base_version_invalid"
    sync_parent_missing = "sync.parent_missing"
    sync_change_id_reused = "sync.change_id_reused"
    sync_hlc_invalid = "sync.hlc_invalid"
    sync_device_mismatch = "sync.device_mismatch"
    sync_busy = "sync.busy"
    sync_change_expired = "sync.change_expired"
    # conflicts
    conflict_not_found = "conflict.not_found"
    conflict_already_resolved = "conflict.already_resolved"
    conflict_resolution_invalid = "conflict.resolution_invalid"
    conflict_merge_out_of_scope = "conflict.merge_out_of_scope"
    # attachments
    attachment_hash_mismatch = "attachment.hash_mismatch"
    attachment_type_unsupported = "attachment.type_unsupported"
    attachment_too_large = "attachment.too_large"
    attachment_not_found = "attachment.not_found"
    attachment_hash_invalid = "attachment.hash_invalid"
    attachment_not_yours = "attachment.not_yours"
    # users and administration
    user_exists = "user.exists"
    user_not_found = "user.not_found"
    user_role_invalid = "user.role_invalid"
    user_scope_invalid = "user.scope_invalid"
    import_invalid = "import.invalid"
    outbox_export_invalid = "outbox_export.invalid"
    visit_notes_required = "visit.notes_required"
    visit_delete_not_allowed = "visit.delete_not_allowed"
    visit_not_author = "visit.not_author"
    visit_edit_window_closed = "visit.edit_window_closed"
    outbox_export_checksum = "outbox_export.checksum_mismatch"
    outbox_export_user_unknown = "outbox_export.user_unknown"
    outbox_export_device_unknown = "outbox_export.device_unknown"
    outbox_export_out_of_scope = "outbox_export.out_of_scope"
    internal_error = "server.internal_error"
    server_unavailable = "server.unavailable"
    # monitoring procedures (sync_protocol/procedure.py)
    procedure_transition_invalid = "procedure.transition_invalid"
    procedure_role_forbidden = "procedure.role_forbidden"
    procedure_stage_changed = "procedure.stage_changed"
    procedure_closed = "procedure.closed"
    procedure_field_locked = "procedure.field_locked"
    procedure_field_derived = "procedure.field_derived"
    procedure_delete_forbidden = "procedure.delete_forbidden"
    procedure_already_open = "procedure.already_open"
    # 五清 checklist (sync_protocol/wuqing.py)
    checklist_role_forbidden = "checklist.role_forbidden"
    # a county's own 五清 templates (sync_protocol/templates.py)
    template_code_invalid = "template.code_invalid"
    template_county_mismatch = "template.county_mismatch"
    template_built_in = "template.built_in"
    template_exists = "template.exists"
    template_not_found = "template.not_found"
    template_name_invalid = "template.name_invalid"
    template_items_count = "template.items_count"
    template_item_invalid = "template.item_invalid"
    template_item_code_invalid = "template.item_code_invalid"
    template_item_code_duplicate = "template.item_code_duplicate"
    template_item_title_invalid = "template.item_title_invalid"
    template_description_too_long = "template.description_too_long"
    template_hint_unknown = "template.hint_unknown"
    template_text_invalid = "template.text_invalid"
    template_retired = "template.retired"
    template_in_use = "template.in_use"
    template_not_own = "template.not_own"
    template_built_in_kept = "template.built_in_kept"
    procedure_not_monitored = "procedure.not_monitored"
    procedure_already_monitored = "procedure.already_monitored"
    procedure_category_mismatch = "procedure.category_mismatch"
    procedure_verifiers_missing = "procedure.verifiers_missing"
    procedure_review_note_missing = "procedure.review_note_missing"
    procedure_notice_too_short = "procedure.notice_too_short"
    procedure_notice_not_over = "procedure.notice_not_over"
    procedure_objection_open = "procedure.objection_open"
    procedure_decision_note_missing = "procedure.decision_note_missing"
    procedure_reason_missing = "procedure.reason_missing"
    procedure_visit_invalid = "procedure.visit_invalid"
    procedure_too_early = "procedure.too_early"
    procedure_income_missing = "procedure.income_missing"
    procedure_income_line_missing = "procedure.income_line_missing"
    procedure_income_below_line = "procedure.income_below_line"
    procedure_no_labor_household = "procedure.no_labor_household"
    # the tablet (kivy_client)
    client_network_unavailable = "client.network_unavailable"
    client_unsynced_work = "client.unsynced_work"
    client_offline_unknown_user = "client.offline_unknown_user"
    client_pin_invalid = "client.pin_invalid"
    client_server_address_invalid = "client.server_address_invalid"
    client_server_refused = "client.server_refused"
    client_server_not_ruhu = "client.server_not_ruhu"
    client_unlock_throttled = "client.unlock_throttled"
    client_sync_stopped = "client.sync_stopped"


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.auth_invalid_credentials: "用户名或密码错误",
    ErrorCode.auth_not_authenticated: "请先登录",
    ErrorCode.auth_token_invalid: "登录凭证无效，请重新登录",
    ErrorCode.auth_token_expired: "登录已过期，请重新登录",
    ErrorCode.auth_user_disabled: "该账号已停用，请联系县级管理员",
    ErrorCode.auth_device_revoked: "该设备已被停用，请联系县级管理员",
    ErrorCode.auth_device_id_invalid: "设备编号格式不正确（只能包含字母、数字、- 和 _）",
    ErrorCode.auth_forbidden: "您的角色无权执行此操作",
    ErrorCode.auth_session_ended: "您已退出登录，请重新登录",
    ErrorCode.auth_locked_out: "登录失败次数过多，请稍后再试",
    ErrorCode.protocol_header_missing: "请求缺少协议版本信息，请升级应用",
    ErrorCode.protocol_version_unsupported: "同步协议版本不受支持，请升级应用",
    ErrorCode.protocol_app_too_old: "应用版本过低，请升级到最新版本后再同步",
    ErrorCode.request_malformed: "请求格式不正确",
    ErrorCode.request_too_large: "一次上传的数据过大，请分批同步",
    ErrorCode.request_too_many_changes: "一次最多上传 500 条修改，请分批同步",
    ErrorCode.request_gzip_invalid: "压缩数据无法解开",
    ErrorCode.request_cursor_invalid: "同步位置无效，请重新下载数据",
    ErrorCode.request_body_too_large: "提交的内容过大，已被拒绝，请减少内容后重试",
    ErrorCode.request_data_invalid: "提交的内容含有无法保存的字符或超出范围的数值，请检查后重试",
    ErrorCode.validation_field_unknown: "未知字段",
    ErrorCode.validation_field_required: "必填项未填写",
    ErrorCode.validation_field_readonly: "该字段不能修改",
    ErrorCode.validation_type_invalid: "数据类型不正确",
    ErrorCode.validation_enum_invalid: "取值不在规定选项内",
    ErrorCode.validation_too_long: "内容过长",
    ErrorCode.validation_out_of_range: "数值超出允许范围",
    ErrorCode.validation_id_number_invalid: "身份证号格式不正确（应为18位）",
    ErrorCode.validation_id_number_checksum: "身份证号校验位错误，请核对",
    ErrorCode.validation_id_number_birth_date: "身份证号中的出生日期无效",
    ErrorCode.validation_id_number_region: "身份证号中的地区代码无效",
    ErrorCode.validation_id_number_region_year: "身份证号中的地区代码在出生年份时尚未设立，请核实",
    ErrorCode.validation_region_code_invalid: "区划代码不正确（应为12位数字）",
    ErrorCode.validation_phone_invalid: "电话号码格式不正确",
    ErrorCode.validation_date_invalid: "日期格式不正确",
    ErrorCode.validation_date_out_of_range: "日期超出允许范围（1900年至2100年）",
    ErrorCode.validation_birth_date_invalid: "出生日期不能晚于今天，也不能早于1890年",
    ErrorCode.validation_control_char: "含有不允许的控制字符或无法识别的字符，请删除后重新输入",
    ErrorCode.validation_amount_invalid: "金额不正确",
    ErrorCode.validation_coordinates_invalid: "经纬度不正确",
    ErrorCode.validation_attachment_id_invalid: "附件编号不正确",
    ErrorCode.validation_uuid_invalid: "记录编号格式不正确",
    ErrorCode.validation_template_unknown: "五清模板未知或不是本县使用的模板",
    ErrorCode.validation_item_unknown: "五清模板中没有该项目",
    ErrorCode.validation_id_number_gender_mismatch: (
        "与身份证号不一致（身份证号第17位单数为男、双数为女）"
    ),
    ErrorCode.validation_id_number_birth_mismatch: "与身份证号中的出生日期不一致",
    ErrorCode.validation_health_conflict: "选了“健康”，就不能同时选长期慢性病、大病或残疾",
    ErrorCode.validation_member_dates: "不能早于增员日期",
    ErrorCode.validation_reason_without_date: "已填写原因，还需填写日期",
    ErrorCode.validation_income_item_kind: (
        "与类别不符（低保金、特困供养金、养老金、生态补偿金属于转移性收入，"
        "医疗自付、教育支出属于刚性支出）"
    ),
    ErrorCode.record_not_found: "记录不存在或不在您的管辖范围内",
    ErrorCode.report_not_found: "没有这个统计报表",
    ErrorCode.report_period_invalid: ("统计期间不正确：开始日期不能晚于结束日期，"
                                      "日期应在2000年至2100年之间"),
    ErrorCode.card_font_missing: ("服务器未安装中文字体，无法生成明白卡，"
                                  "请联系管理员安装 fonts-noto-cjk"),
    ErrorCode.card_too_many: "一次最多打印 2000 户的明白卡，请按行政村分批打印",
    ErrorCode.reconcile_file_invalid: ("无法读取国家系统导出文件，"
                                       "请上传 Excel（.xlsx）格式的农户信息表"),
    ErrorCode.scope_out_of_scope: "记录不存在或不在您的管辖范围内",
    ErrorCode.sync_entity_unknown: "未知的数据类型",
    ErrorCode.sync_op_invalid: "未知的操作类型",
    ErrorCode.sync_base_version_invalid: "基准版本号不正确",
    ErrorCode.sync_parent_missing: "所属农户不存在或不在您的管辖范围内",
    ErrorCode.sync_change_id_reused: "修改编号已被其他修改使用",
    ErrorCode.sync_hlc_invalid: "修改时间戳格式不正确",
    ErrorCode.sync_device_mismatch: "设备编号与登录设备不一致",
    ErrorCode.sync_busy: "服务器正忙，同步将稍后自动重试（修改已保存在本机，不会丢失）",
    ErrorCode.sync_change_expired: (
        "这条修改在服务器的保留期之前已同步过，不能再次提交；如有需要请重新修改后同步"
    ),
    ErrorCode.conflict_not_found: "冲突记录不存在或不在您的管辖范围内",
    ErrorCode.conflict_already_resolved: "该冲突已处理",
    ErrorCode.conflict_resolution_invalid: "处理方式不正确",
    ErrorCode.conflict_merge_out_of_scope: (
        "另一户不在您的管辖范围内，不能合并；如确为同一户，请联系县级管理员处理"
    ),
    ErrorCode.attachment_hash_mismatch: "附件内容与编号不符，请重新上传",
    ErrorCode.attachment_type_unsupported: "附件类型不支持（仅支持 JPEG、PNG、PDF）",
    ErrorCode.attachment_too_large: "附件过大（不能超过 10 MB）",
    ErrorCode.attachment_not_found: "附件不存在或无权查看",
    ErrorCode.attachment_hash_invalid: "附件编号应为64位十六进制 SHA-256",
    ErrorCode.attachment_not_yours: (
        "引用的照片或附件不是本人上传的，也不属于本辖区的记录，不能使用；请重新拍摄或上传"
    ),
    ErrorCode.user_exists: "用户名已存在",
    ErrorCode.user_not_found: "用户不存在",
    ErrorCode.user_role_invalid: "角色不正确",
    ErrorCode.user_scope_invalid: "管辖范围与角色不符",
    ErrorCode.import_invalid: "导入文件有错误，未导入任何数据",
    ErrorCode.visit_notes_required: "请填写走访情况（至少4个字，写明了解到的情况或办理的事项）",
    ErrorCode.visit_delete_not_allowed: "走访记录不能删除；如系误录，请由走访人在当天撤回",
    ErrorCode.visit_not_author: "只有走访人本人可以修改或撤回这条走访记录",
    ErrorCode.visit_edit_window_closed: "走访记录只能在走访当天（北京时间）修改或撤回",
    ErrorCode.outbox_export_invalid: "不是有效的平板未上传数据导出文件",
    ErrorCode.outbox_export_checksum: "导出文件内容与校验值不符（文件可能已损坏或被改动），未导入",
    ErrorCode.outbox_export_user_unknown: "导出文件中的用户在系统中不存在，未导入",
    ErrorCode.outbox_export_device_unknown: "导出文件中的设备未在该用户名下登记，未导入",
    ErrorCode.outbox_export_out_of_scope: "导出文件所属用户不在您的管辖范围内，无权导入",
    ErrorCode.internal_error: "服务器内部错误，请稍后重试",
    ErrorCode.server_unavailable: "服务器暂时不可用，请稍后重试",
    ErrorCode.procedure_transition_invalid: "监测程序当前环节不能进行此操作",
    ErrorCode.procedure_role_forbidden: "您的角色无权办理监测程序的这一环节",
    ErrorCode.checklist_role_forbidden: "只有村党支部书记或驻村第一书记可以确认“村书记心里清”",
    ErrorCode.template_code_invalid: (
        "模板编号格式不正确，应为“本县行政区划代码.名称.v版本号”，如 411702.wuqing.v2"
        "（名称以小写字母开头，可含小写字母、数字和下划线）"
    ),
    ErrorCode.template_county_mismatch: "只能为本县创建或选用五清模板",
    ErrorCode.template_built_in: "系统内置的五清模板不能修改或覆盖，请使用本县的模板编号",
    ErrorCode.template_exists: (
        "该模板版本已存在。已发布的模板不能修改，如需调整请以新的版本号（如 v2）另建模板"
    ),
    ErrorCode.template_not_found: "五清模板不存在或已停用",
    ErrorCode.template_name_invalid: "请填写模板名称（不超过60个字）",
    ErrorCode.template_items_count: "五清模板须有1至20个核查项目",
    ErrorCode.template_item_invalid: "核查项目格式不正确",
    ErrorCode.template_item_code_invalid: (
        "项目编号格式不正确：以小写字母开头，只能包含小写字母、数字和下划线，不超过40个字符"
    ),
    ErrorCode.template_item_code_duplicate: "同一模板中的项目编号不能重复",
    ErrorCode.template_item_title_invalid: "请填写项目名称（不超过30个字）",
    ErrorCode.template_description_too_long: "项目说明不能超过300个字",
    ErrorCode.template_hint_unknown: "自动提示类型不在规定选项内",
    ErrorCode.template_text_invalid: "内容含有控制字符或不可见的格式字符，请删除后重试",
    ErrorCode.template_retired: "该模板版本已停用，不能选用，请选用其他模板",
    ErrorCode.template_in_use: "本县正在使用该模板，不能停用；请先选用其他模板，再停用此版本",
    ErrorCode.template_not_own: "只能停用本县制定的五清模板版本",
    ErrorCode.template_built_in_kept: "系统内置的五清模板不能停用",
    ErrorCode.procedure_stage_changed: "该监测程序已被他人办理到新的环节，请同步后再操作",
    ErrorCode.procedure_closed: "该监测程序已办结，不能再修改",
    ErrorCode.procedure_field_locked: "监测程序在当前环节不能修改该项内容",
    ErrorCode.procedure_field_derived: (
        "监测信息只能由县级确认的监测程序生成，不能直接修改；请发起纳入监测或风险消除程序"
    ),
    ErrorCode.procedure_delete_forbidden: "监测程序不能删除；如需终止，请在公示前撤回",
    ErrorCode.procedure_already_open: "该户已有一个未办结的同类监测程序，请先办结或撤回",
    ErrorCode.procedure_not_monitored: "该户不是风险未消除的监测对象，不能发起风险消除",
    ErrorCode.procedure_already_monitored: "该户已是风险未消除的监测对象，不能重复纳入监测",
    ErrorCode.procedure_category_mismatch: (
        "监测对象类别与户类型不符：脱贫不稳定户须为脱贫户，边缘易致贫户须为一般农户"
    ),
    ErrorCode.procedure_verifiers_missing: "入户核实须填写至少两名核实人员",
    ErrorCode.procedure_review_note_missing: "请填写村级评议结果",
    ErrorCode.procedure_notice_too_short: (
        "公示期不足：公示结束日期不得早于开始日期加县级规定的公示天数"
    ),
    ErrorCode.procedure_notice_not_over: "公示期尚未结束，暂不能审核",
    ErrorCode.procedure_objection_open: "公示异议尚未处理完毕，暂不能审核",
    ErrorCode.procedure_decision_note_missing: "请填写县级审定意见",
    ErrorCode.procedure_reason_missing: "退回或不予通过须填写理由",
    ErrorCode.procedure_visit_invalid: "所选走访记录不是本户的有效走访（可能已撤回），请重新选择",
    ErrorCode.procedure_too_early: "纳入监测未满县级规定的最短监测天数，暂不能风险消除",
    ErrorCode.procedure_income_missing: "未录入上一年度收入，无法判断能否风险消除",
    ErrorCode.procedure_income_line_missing: "县级尚未设定上一年度的防止返贫监测标准",
    ErrorCode.procedure_income_below_line: (
        "上一年度家庭人均纯收入低于防止返贫监测标准，暂不能风险消除"
    ),
    ErrorCode.procedure_no_labor_household: (
        "该户无劳动能力成员，应继续监测并落实兜底保障，不能风险消除"
    ),
    ErrorCode.client_network_unavailable: (
        "无法连接服务器，请检查网络后重试（未上传的修改已保存在本机，不会丢失）"
    ),
    ErrorCode.client_unsynced_work: "本机还有未上传的修改，请先同步后再退出登录",
    ErrorCode.client_offline_unknown_user: "该账号尚未在本机登录过，首次登录需要联网",
    ErrorCode.client_pin_invalid: "解锁密码应为4至8位数字",
    ErrorCode.client_server_address_invalid: (
        "找不到该服务器地址，请核对“服务器地址”是否输入正确（这不是没有信号）"
    ),
    ErrorCode.client_server_refused: (
        "该服务器地址没有响应：请核对地址和端口是否正确，或联系县级管理员确认服务器已启动"
    ),
    ErrorCode.client_server_not_ruhu: (
        "该地址不是入户通服务器，请核对“服务器地址”是否输入正确"
    ),
    ErrorCode.client_unlock_throttled: (
        "密码或PIN码错误次数过多，为保护数据安全，请稍后再试"
    ),
    ErrorCode.client_sync_stopped: "已停止同步，未上传的修改保存在本机，不会丢失",
}


# auth.locked_out with the time to try again: "14:05" (China time) or "30 秒"
LOCKED_OUT_UNTIL = "登录失败次数过多，为保护账号安全已暂停登录，请于 {when} 后再试"
LOCKED_OUT_SECONDS = "登录失败次数过多，为保护账号安全已暂停登录，请 {seconds} 秒后再试"


def message(code: ErrorCode) -> str:
    return MESSAGES[code]


@dataclass
class FieldError:
    """One problem with one field (or the whole record when ``field`` is None)."""

    code: ErrorCode
    field: str | None = None
    message: str = ""
    warning: bool = False

    def __post_init__(self) -> None:
        if not self.message:
            self.message = MESSAGES[self.code]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass
class RuhuError(Exception):
    """An error meant for the user: a stable code, a Chinese message and extra payload."""

    code: ErrorCode
    message: str = ""
    status_code: int = 400
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.message:
            self.message = MESSAGES[self.code]
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": str(self.code), "message": self.message, **self.extra}}


assert set(MESSAGES) == set(ErrorCode), "every error code needs a Chinese message"
