"""Process versions that differ from the demo's in one place, for the case-migration tests."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from app.definitions.versions import deploy
from app.models import ProcessVersion

CONFIRM_TASK = """<bpmn:userTask id="triage_confirm" name="研判复核 Confirm triage">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="feedback.schema.json" />
          <spiffworkflow:property name="unit" value="top" />
          <spiffworkflow:property name="stage" value="triage" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_triaged</bpmn:incoming>
      <bpmn:outgoing>flow_confirmed</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="flow_confirmed" sourceRef="triage_confirm" targetRef="grade_gateway" />
    """
CONFIRM_SHAPE = """<bpmndi:BPMNShape id="triage_confirm_di" bpmnElement="triage_confirm">
        <dc:Bounds x="770" y="600" width="100" height="80" />
      </bpmndi:BPMNShape>
      """


def files_of(app: Flask, number: int) -> dict[str, str]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        version = s.scalar(select(ProcessVersion).where(ProcessVersion.version == number))
        assert version is not None
        return dict(version.files)


def _once(text: str, pattern: str, replacement: str) -> str:
    """``pattern`` replaced where it occurs exactly once: a diagram edited since fails here, loudly."""
    changed, count = re.subn(pattern, lambda _m: replacement, text, count=0)
    assert count == 1, f"{pattern!r} occurs {count} times"
    return changed


def with_confirm_task(files: dict[str, str]) -> dict[str, str]:
    """A user task 研判复核 (triage_confirm) for the platform operator right after triage."""
    bpmn = files["case.bpmn"]
    bpmn = _once(bpmn, r'<bpmn:sequenceFlow id="flow_triaged" sourceRef="triage" targetRef="grade_gateway"\s*/>',
                 '<bpmn:sequenceFlow id="flow_triaged" sourceRef="triage" targetRef="triage_confirm" />')
    bpmn = _once(bpmn, "<bpmn:incoming>flow_triaged</bpmn:incoming>", "<bpmn:incoming>flow_confirmed</bpmn:incoming>")
    gateway = '<bpmn:exclusiveGateway id="grade_gateway"'
    bpmn = _once(bpmn, gateway, CONFIRM_TASK + gateway)
    ref = "<bpmn:flowNodeRef>triage</bpmn:flowNodeRef>"
    bpmn = _once(bpmn, re.escape(ref), ref + "\n        <bpmn:flowNodeRef>triage_confirm</bpmn:flowNodeRef>")
    bpmn = _once(bpmn, r'<bpmndi:BPMNShape id="triage_di"', CONFIRM_SHAPE + '<bpmndi:BPMNShape id="triage_di"')
    return {**files, "case.bpmn": bpmn}


def triage_as_script(files: dict[str, str]) -> dict[str, str]:
    """Triage is no longer a person's task: a script grades every report 2."""
    bpmn = files["case.bpmn"]
    task = re.search(r'<bpmn:userTask id="triage" .*?</bpmn:userTask>', bpmn, re.S)
    assert task is not None
    script = ('<bpmn:scriptTask id="triage" name="自动研判 Auto triage">\n'
              "      <bpmn:incoming>flow_merge_triage</bpmn:incoming>\n"
              "      <bpmn:outgoing>flow_triaged</bpmn:outgoing>\n"
              "      <bpmn:script>grade = 2</bpmn:script>\n    </bpmn:scriptTask>")
    return {**files, "case.bpmn": bpmn.replace(task.group(0), script)}


def deploy_files(app: Flask, files: dict[str, str], comment: str) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        version, created = deploy(s, files, "tests", comment)
        assert created
        return version.version


def whistle_without_handling_departments(files: dict[str, str]) -> dict[str, str]:
    """The whistle as it was before 主责部门确认 could send one department back: handling runs over
    every summoned department (``departments``) and nothing sets ``handling_departments``."""
    bpmn = files["whistle.bpmn"]
    bpmn = _once(bpmn, r"\nhandling_departments = departments</bpmn:script>\s*</bpmn:scriptTask>\s*"
                       r'<bpmn:exclusiveGateway id="review_more"',
                 '</bpmn:script>\n    </bpmn:scriptTask>\n    <bpmn:exclusiveGateway id="review_more"')
    bpmn = _once(bpmn, "<bpmn:loopDataInputRef>handling_departments</bpmn:loopDataInputRef>",
                 "<bpmn:loopDataInputRef>departments</bpmn:loopDataInputRef>")
    return {**files, "whistle.bpmn": bpmn}


def whistle_retitled(files: dict[str, str]) -> dict[str, str]:
    """Today's whistle with one task renamed: a version that differs from the deployed one."""
    bpmn = _once(files["whistle.bpmn"], 'name="部门办理 Handle"', 'name="部门办理（新） Handle"')
    return {**files, "whistle.bpmn": bpmn}
