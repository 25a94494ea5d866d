"""The Chinese names of the codes the record holds (statuses, outcomes, event types): message ids of
the pages' catalogue (translated where they are shown) and the words of the paper dossier."""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a message id for extraction (babel.cfg); translated where it is shown."""
    return text


STATUSES = {"open": N_("办理中"), "closed": N_("已办结")}
OUTCOMES = {"self_handled": N_("网格员自行处置"), "closed": N_("已解决"), "escalated": N_("已上报上级")}
# a report closed at triage into another case (issue 16): merged into it (并案), or 重复件
OUTCOMES |= {"merged": N_("已并案"), "duplicate": N_("重复件")}
# closed at triage as not a case to handle (退单 / 无效件), with the reason the reporter is shown
OUTCOMES |= {"invalid": N_("退单（无效件）")}
SATISFACTION = {"satisfied": N_("满意"), "basically_satisfied": N_("基本满意"), "dissatisfied": N_("不满意")}
# 解决情况 of a call-back, recorded apart from satisfaction
RESOLUTION = {"resolved": N_("已解决"), "partly_resolved": N_("部分解决"), "unresolved": N_("未解决")}
DUTIES = {"lead": N_("主体责任"), "cooperating": N_("配合责任")}
EVENTS = {
    "case_created": N_("受理登记"),
    "task_ready": N_("待办生成"),
    "task_completed": N_("办理完成"),
    "task_claimed": N_("签收"),
    "task_unclaimed": N_("退回签收"),
    "task_assigned": N_("指派"),
    "dispatched": N_("派单"),
    "whistle_started": N_("吹哨"),
    "departments_adjusted": N_("调整报到部门"),
    "reported_in": N_("部门报到"),
    "department_returned": N_("退回部门重办"),
    "escalated": N_("上报上级"),
    "taken_back": N_("超期收回，重新研判"),
    "evaluated": N_("一哨一考评价"),
    "satisfaction": N_("满意度回访"),
    "attempt_failed": N_("未接通，稍后再试"),
    "attempts_exhausted": N_("多次未接通，结束"),
    "case_closed": N_("办结销号"),
    "comment_added": N_("跟哨记录"),
    "attachment_added": N_("上传附件"),
    "attachment_visibility": N_("附件公开设置"),
    "feedback": N_("反馈"),
    "comment": N_("进展说明"),
    "review_approved": N_("审核通过"),
    "review_returned": N_("审核退回"),
    "whistle_filed": N_("备案"),
    "timer_fired": N_("时限到达"),
    "reminder": N_("时限提醒"),
    "supervision_opened": N_("挂账督办"),
    "supervision_issued": N_("督办"),
    "supervision_answered": N_("督办回复"),
    "supervision_accepted": N_("督办办结"),
    "supervision_cleared": N_("督办销号"),
    "supervision_transferred": N_("督办转办"),
    "incident_opened": N_("定时器异常"),
    "incident_retried": N_("异常重试"),
    "whistle_pushed": N_("推送市级"),
    "whistle_push_undone": N_("撤销推送市级"),
    "case_migrated": N_("迁移流程版本"),
}
# a report merged into another case, or closed as a duplicate of one (issue 16): in both chains
EVENTS |= {"case_merged": N_("并入他案"), "report_merged_in": N_("他案并入"), "marked_duplicate": N_("认定重复件"),
           "duplicate_noted": N_("收到重复件")}

# The record-keeping events the case page leaves out (cases.RECORD_KEEPING).
RECORD_EVENTS = {
    "process_started": N_("流程启动"),
    "state_saved": N_("状态快照"),
    "handler_called": N_("调用处理程序"),
    "process_cancelled": N_("流程终止"),
}
