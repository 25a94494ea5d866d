"""Static checks of processes/*.bpmn, *.dmn and forms: XSD, conventions, diagram completeness.

Must not import SpiffWorkflow: its XSDs are located as files via importlib.util.find_spec.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
FORMS = PROCESSES / "forms"
BPMN_FILES = sorted(PROCESSES.glob("*.bpmn"))
DMN_FILES = sorted(PROCESSES.glob("*.dmn"))

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/",
}


def qname(prefix: str, name: str) -> str:
    """Clark notation, as lxml's iter() wants it: {namespace}name."""
    return f"{{{NS[prefix]}}}{name}"


B = qname("bpmn", "")

ROLES = {
    "grid_worker",
    "platform_operator",
    "secretary",
    "whistle_staff",
    "section_head",
    "deputy_leader",
    "dept_staff",
    "dept_head",
    "callback_agent",
}
STAGES = {
    "triage",
    "dispatch",
    "review",
    "filing",
    "report_in",
    "coordination",
    "handling",
    "confirmation",
    "verification",
    "feedback",
    "callback",
    "evaluation",
}
HANDLERS = {
    "return_to_department": {"department", "reason", "summoned"},
    "lookup_catalogue": {"matter", "urgent"},
    "whistle_units": {"level"},
    "dispatch_case": {"department"},
    "record_report_in": {"department", "duty"},
    "record_evaluation": {
        "department",
        "efficiency",
        "cooperation",
        "professionalism",
        "responsibility",
        "comment",
    },
    "record_satisfaction": {"satisfaction", "comment"},
    "escalate_whistle": {"level", "reason"},
    "close_case": {"outcome"},
    "set_deadline": {"stage", "hours"},
    "set_handling_deadlines": {"stage", "hours", "division", "summoned"},
    "record_division": {"division", "summoned"},
    "send_reminder": {"stage", "unit", "task"},
    "open_supervision": {"stage", "unit", "task", "due"},
    "escalate_late_work": {"stage", "unit", "task", "to", "reason"},
    "adjust_departments": {"proposed", "add", "remove", "reason"},
    "record_whistle_started": {"summoned"},
    "schedule_retry": {"stage", "attempts", "note"},
}
# Parameters a handler may be given besides those: who supervises the late unit (督办), the reason of
# a 退单, the 解决情况 of a call-back, a report-in's proof of presence.
OPTIONAL_PARAMETERS = {"open_supervision": {"supervisor"}, "close_case": {"reason"},
                       "record_satisfaction": {"resolution"}, "record_report_in": {"photos", "location"}}
SUPERVISORS = {"head", "above"}
OUTCOMES = {"self_handled", "closed", "escalated", "invalid"}

# The contract the engine relies on: user task id -> (lane, form, unit, stage, dueHours).
USER_TASKS = {
    "case": {
        "triage": ("platform_operator", "triage.schema.json", "top", "triage", "limits['triage']"),
        "handle_dispatched": (
            "dept_staff",
            "handle_dispatched.schema.json",
            "catalogue['lead']",
            "handling",
            "catalogue['handle_hours']",
        ),
        "handle_dispatched_head_supervise": (
            "dept_staff", "supervise.schema.json", "supervision['head_unit']", "handling", "limits['supervision']"),
        "handle_dispatched_supervise_answer": (
            "dept_staff", "supervise_answer.schema.json", "supervision['late_unit']", "handling",
            "answer_hours or limits['supervision']"),
        "verify_dispatched": (
            "platform_operator", "verify.schema.json", "top", "verification", "verify_deadline['hours']"),
        "verify_dispatched_head_supervise": (
            "platform_operator", "supervise.schema.json", "supervision['head_unit']", "verification",
            "limits['supervision']"),
        "verify_dispatched_supervise_answer": (
            "platform_operator", "supervise_answer.schema.json", "supervision['late_unit']", "verification",
            "answer_hours or limits['supervision']"),
        "feedback_dispatched": (
            "platform_operator", "feedback.schema.json", "street", "feedback", "limits['feedback']"),
    },
    "whistle": {
        "prepare_whistle": (
            "whistle_staff",
            "prepare_whistle.schema.json",
            "units['whistle']",
            "review",
            "limits['review']",
        ),
        # every step of the review chain: the role is the step's (ROLE_PROPERTY), not the lane's
        "review": ("secretary", "review.schema.json", "units['whistle']", "review", "review_deadline['hours']"),
        "review_head_supervise": (
            "secretary", "supervise.schema.json", "supervision['head_unit']", "review", "limits['supervision']"),
        "review_supervise_answer": (
            "secretary", "supervise_answer.schema.json", "supervision['late_unit']", "review",
            "answer_hours or limits['supervision']"),
        "review_head": (
            "secretary", "approve_whistle.schema.json", "units['whistle']", "review", "review_deadline['hours']"),
        "review_head_head_supervise": (
            "secretary", "supervise.schema.json", "supervision['head_unit']", "review", "limits['supervision']"),
        "review_head_supervise_answer": (
            "secretary", "supervise_answer.schema.json", "supervision['late_unit']", "review",
            "answer_hours or limits['supervision']"),
        "file_whistle": (
            "platform_operator", "file_whistle.schema.json", "units['filing']", "filing", "limits['filing']"),
        "report_in": (
            "dept_staff",
            "report_in.schema.json",
            "dept['code']",
            "report_in",
            "catalogue['report_in_hours']",
        ),
        "report_in_head_supervise": (
            "dept_staff", "supervise.schema.json", "supervision['head_unit']", "report_in", "limits['supervision']"),
        "report_in_supervise_answer": (
            "dept_staff", "supervise_answer.schema.json", "supervision['late_unit']", "report_in",
            "answer_hours or limits['supervision']"),
        "coordinate": (
            "whistle_staff", "coordinate.schema.json", "units['whistle']", "coordination", "limits['coordination']"),
        "handle": (
            "dept_staff",
            "handle.schema.json",
            "dept['code']",
            "handling",
            "dept_work['hours']",
        ),
        "handle_head_supervise": (
            "dept_staff", "supervise.schema.json", "supervision['head_unit']", "handling", "limits['supervision']"),
        "handle_supervise_answer": (
            "dept_staff", "supervise_answer.schema.json", "supervision['late_unit']", "handling",
            "answer_hours or limits['supervision']"),
        "lead_confirm": (
            "dept_head", "lead_confirm.schema.json", "catalogue['lead']", "confirmation", "limits['confirmation']"),
        "verify": (
            "platform_operator", "verify.schema.json", "units['verifier']", "verification", "verify_deadline['hours']"),
        "verify_head_supervise": (
            "platform_operator", "supervise.schema.json", "supervision['head_unit']", "verification",
            "limits['supervision']"),
        "verify_supervise_answer": (
            "platform_operator", "supervise_answer.schema.json", "supervision['late_unit']", "verification",
            "answer_hours or limits['supervision']"),
        "feedback": ("whistle_staff", "feedback.schema.json", "units['whistle']", "feedback", "limits['feedback']"),
        "evaluate": ("secretary", "evaluate.schema.json", "units['whistle']", "evaluation", "limits['evaluation']"),
    },
    "callback_process": {
        "callback": ("callback_agent", "callback.schema.json", "top", "callback", "limits['callback']"),
    },
}
# 督办 tasks sit inside the late work's subprocess (so in its lane) and name their role and unit
# instead: the head open_supervision names (dept_head, or the secretary of a street/community; of the
# late unit, or of the unit above it) issues and closes the 督办; the late task's role in the late
# unit answers it (督办回复).
ROLE_PROPERTY = {tid: "supervision['head_role']" for tasks in USER_TASKS.values() for tid in tasks
                 if tid.endswith("_head_supervise")} | {
    tid: "supervision['late_role']" for tasks in USER_TASKS.values() for tid in tasks
    if tid.endswith("_supervise_answer")} | {"review": "review_chain[review_step]"}
# Multi-instance subprocesses: id -> (input collection, input item).
MULTI_INSTANCE = {
    "report_in_all": ("departments", "report_dept"),
    "handle_all": ("handling_departments", "handle_dept"),
    "evaluate_all": ("departments", "rated_dept"),
}
FLOW_NODE_TAGS = {
    B + t
    for t in (
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
        "subProcess",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
    )
}

# What the script sandbox will accept: plain expressions/statements on task data.
SAFE_CALLS = {"len", "min", "max", "sum", "int", "str", "bool", "abs", "round", "any", "all", "sorted"}
FORBIDDEN_NAMES = {
    "open",
    "exec",
    "eval",
    "compile",
    "globals",
    "locals",
    "vars",
    "getattr",
    "setattr",
    "delattr",
    "time",
    "datetime",
    "random",
    "input",
    "breakpoint",
    "type",
    "object",
}


def spiff_dir() -> Path:
    spec = importlib.util.find_spec("SpiffWorkflow")
    assert spec is not None and spec.submodule_search_locations, "SpiffWorkflow is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def bpmn_schema() -> etree.XMLSchema:
    base = spiff_dir()
    xsd = etree.parse(str(base / "bpmn" / "parser" / "schema" / "BPMN20.xsd"))
    # Validate our extension elements strictly too, as SpiffWorkflow's own validator does.
    xsd.getroot().insert(
        0,
        etree.Element(
            "{http://www.w3.org/2001/XMLSchema}import",
            namespace=NS["spiffworkflow"],
            schemaLocation=(base / "spiff" / "parser" / "schema" / "spiffworkflow.xsd").as_uri(),
        ),
    )
    return etree.XMLSchema(xsd)


@pytest.fixture(scope="module")
def dmn_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(spiff_dir() / "dmn" / "parser" / "schema" / "DMN13.xsd")))


def parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(path))


def processes() -> dict[str, tuple[Path, etree._Element]]:
    out = {}
    for path in BPMN_FILES:
        for proc in parse(path).getroot().iterfind("bpmn:process", NS):
            out[proc.get("id")] = (path, proc)
    return out


def flow_nodes(container: etree._Element):
    """Flow nodes at every depth (subprocess children included)."""
    return [el for el in container.iter() if el.tag in FLOW_NODE_TAGS]


def props(task: etree._Element) -> dict[str, str]:
    return {
        p.get("name"): p.get("value")
        for p in task.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


def lane_of(node: etree._Element, lanes: dict[str, str]) -> str | None:
    """A node's lane; nodes inside a subprocess take the subprocess's lane (as SpiffWorkflow does)."""
    while node is not None:
        if node.get("id") in lanes:
            return lanes[node.get("id")]
        node = node.getparent()
        if node is None or node.tag == B + "process":
            return None
    return None


def lanes_by_node(proc: etree._Element) -> dict[str, str]:
    return {
        ref.text: lane.get("name")
        for lane in proc.iterfind(".//bpmn:laneSet/bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }


def check_python(source: str, mode: str, where: str) -> None:
    tree = ast.parse(source, mode=mode)  # SyntaxError fails the test with the source shown
    for node in ast.walk(tree):
        assert not isinstance(
            node,
            (
                ast.Import,
                ast.ImportFrom,
                ast.FunctionDef,
                ast.AsyncFunctionDef,
                ast.Lambda,
                ast.ClassDef,
                ast.Global,
                ast.Nonlocal,
            ),
        ), (where, source)
        if isinstance(node, ast.Name):
            assert not node.id.startswith("__") and node.id not in FORBIDDEN_NAMES, (where, source)
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), (where, source)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in SAFE_CALLS, (where, source)


# --------------------------------------------------------------------------- schema validation
def test_process_files_exist():
    assert {p.name for p in BPMN_FILES} >= {"case.bpmn", "whistle.bpmn", "callback.bpmn"}
    assert {p.name for p in DMN_FILES} >= {"whistle_levels.dmn"}


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_bpmn_validates_against_spiffworkflow_xsd(path, bpmn_schema):
    doc = parse(path)
    assert bpmn_schema.validate(doc), bpmn_schema.error_log


@pytest.mark.parametrize("path", DMN_FILES, ids=lambda p: p.name)
def test_dmn_validates_against_spiffworkflow_xsd(path, dmn_schema):
    doc = parse(path)
    assert dmn_schema.validate(doc), dmn_schema.error_log


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_no_element_id_equals_a_handler_or_parameter_id(path):
    # SpiffWorkflow resolves sequence-flow targets through an index of EVERY element with an id,
    # extension elements included: a task id equal to a handler or parameter id breaks parsing
    # ("There is no support implemented for this task type").
    root = parse(path).getroot()
    extension = {el.get("id") for el in root.iter(qname("spiffworkflow", "*")) if el.get("id")}
    bpmn = {el.get("id") for el in root.iter(qname("bpmn", "*")) if el.get("id")}
    assert not bpmn & extension, f"{path.name}: {sorted(bpmn & extension)}"


# --------------------------------------------------------------------------- conventions
def test_expected_processes_and_user_tasks_exist():
    procs = processes()
    assert set(procs) == set(USER_TASKS)
    for pid, tasks in USER_TASKS.items():
        _, proc = procs[pid]
        found = {t.get("id") for t in proc.iter(B + "userTask")}
        assert found == set(tasks), pid
        assert proc.get("isExecutable") == "true"


@pytest.mark.parametrize("pid", sorted(USER_TASKS))
def test_user_tasks_follow_the_engine_contract(pid):
    _, proc = processes()[pid]
    lanes = lanes_by_node(proc)
    for task in proc.iter(B + "userTask"):
        tid = task.get("id")
        lane, form, unit, stage, due = USER_TASKS[pid][tid]
        assert lane_of(task, lanes) == lane, tid
        p = props(task)
        assert {"formJsonSchemaFilename", "unit", "stage"} <= set(p), tid
        assert set(p) <= {"formJsonSchemaFilename", "unit", "stage", "dueHours", "role", "contextKeys"}, tid
        assert p.get("role") == ROLE_PROPERTY.get(tid), tid
        assert (p["formJsonSchemaFilename"], p["unit"], p["stage"], p.get("dueHours")) == (
            form,
            unit,
            stage,
            due,
        )
        assert p["stage"] in STAGES
        assert (FORMS / p["formJsonSchemaFilename"]).is_file(), p["formJsonSchemaFilename"]
        check_python(p["unit"], "eval", f"{tid}.unit")
        if "role" in p:
            check_python(p["role"], "eval", f"{tid}.role")
        if "dueHours" in p:
            check_python(p["dueHours"], "eval", f"{tid}.dueHours")


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_lanes_are_role_codes_and_every_node_has_one(path):
    for proc in parse(path).getroot().iterfind("bpmn:process", NS):
        lanes = lanes_by_node(proc)
        assert set(lanes.values()) <= ROLES, set(lanes.values()) - ROLES
        for lane in proc.iterfind(".//bpmn:lane", NS):
            assert lane.find("bpmn:flowNodeRef", NS) is not None, f"empty lane {lane.get('name')}"
        for node in flow_nodes(proc):
            assert lane_of(node, lanes) in ROLES, f"{node.get('id')} is in no lane"


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_service_tasks_call_known_handlers_with_their_parameters(path):
    for task in parse(path).getroot().iter(B + "serviceTask"):
        ops = task.findall("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        assert len(ops) == 1, task.get("id")
        op = ops[0]
        handler = op.get("id")
        assert handler in HANDLERS, f"{task.get('id')}: unknown handler {handler}"
        assert op.get("resultVariable"), task.get("id")
        params = {p.get("id"): p for p in op.iterfind(".//spiffworkflow:parameter", NS)}
        assert HANDLERS[handler] <= set(params) <= HANDLERS[handler] | OPTIONAL_PARAMETERS.get(handler, set()), (
            task.get("id"))
        for name, param in params.items():
            assert param.get("type") == "any"
            check_python(param.get("value"), "eval", f"{task.get('id')}.{name}")
        if handler == "close_case":
            assert ast.literal_eval(params["outcome"].get("value")) in OUTCOMES
        if "supervisor" in params:
            assert ast.literal_eval(params["supervisor"].get("value")) in SUPERVISORS, task.get("id")


def test_late_work_gets_a_supervision_task_that_its_completion_withdraws():
    """Every deadline path (open_supervision) leads to a 督办 task for the head it names, in one
    subprocess with the late task, whose completion ends at a terminate end event."""
    supervisors = {}
    for _, proc in processes().values():
        after = {f.get("sourceRef"): f.get("targetRef") for f in proc.iter(B + "sequenceFlow")}
        for service in proc.iter(B + "serviceTask"):
            op = service.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
            if op.get("id") != "open_supervision":
                continue
            params = {p.get("id"): p.get("value") for p in op.iterfind(".//spiffworkflow:parameter", NS)}
            late = ast.literal_eval(params["task"])
            sub = service.getparent()
            assert sub.tag == B + "subProcess", service.get("id")
            answer = sub.find(f'bpmn:userTask[@id="{after[service.get("id")]}"]', NS)
            assert answer is not None, service.get("id")
            head = answer
            assert (props(head)["formJsonSchemaFilename"], props(head)["unit"], props(head)["role"]) == (
                "supervise.schema.json", "supervision['head_unit']", "supervision['head_role']")
            # the right way round: the head issues, the late unit answers, the head closes or presses again
            gateway = sub.find(f'bpmn:exclusiveGateway[@id="{after[head.get("id")]}"]', NS)
            flows = {f.get("id"): f for f in sub.iter(B + "sequenceFlow") if f.get("sourceRef") == gateway.get("id")}
            pressed = sub.find(f'bpmn:userTask[@id="{flows[gateway.get("default")].get("targetRef")}"]', NS)
            assert (props(pressed)["formJsonSchemaFilename"], props(pressed)["unit"], props(pressed)["role"]) == (
                "supervise_answer.schema.json", "supervision['late_unit']", "supervision['late_role']")
            assert after[pressed.get("id")] == head.get("id")  # the answer goes back to the head
            [closed] = [f for f in flows.values() if f.get("id") != gateway.get("default")]
            assert closed.findtext("bpmn:conditionExpression", namespaces=NS) == "verdict == 'accept'"
            assert sub.find(f'bpmn:endEvent[@id="{closed.get("targetRef")}"]', NS) is not None
            assert sub.find(f'bpmn:userTask[@id="{late}"]', NS) is not None, late
            done = after[late]  # where the completed work goes (report-in is recorded first)
            while sub.find(f'bpmn:endEvent[@id="{done}"]', NS) is None:
                done = after[done]
            assert sub.find(f'bpmn:endEvent[@id="{done}"]/bpmn:terminateEventDefinition', NS) is not None, late
            supervisors[late] = ast.literal_eval(params.get("supervisor", "'head'"))
    assert supervisors == {
        "report_in": "head", "handle": "head", "handle_dispatched": "head", "verify": "head",
        "verify_dispatched": "head", "review": "head",
        "review_head": "above",  # the secretary's own approval: the secretary of the unit above
    }


# A department's own deadline within a stage (分工), picked from the stage deadline's ``departments``.
PER_DEPARTMENT = {"dept_work": "handle_deadline"}


def deadline_setters(proc: etree._Element) -> dict[str, tuple[str, str]]:
    """set_deadline service task id -> (its result variable, its hours expression)."""
    found = {}
    for service in proc.iter(B + "serviceTask"):
        op = service.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        if op is not None and op.get("id") in ("set_deadline", "set_handling_deadlines"):
            hours = op.find('.//spiffworkflow:parameter[@id="hours"]', NS)
            found[service.get("id")] = (op.get("resultVariable"), hours.get("value"))
    return found


def test_each_supervised_step_starts_its_own_clock_and_the_inbox_shows_its_deadline():
    """Every task with an overdue timer (``X['due']``) sits in a subprocess entered only through a
    set_deadline of X, so its clock starts when the work reaches it (each review step its own, not
    the chain's), and its dueHours names the same limit (``X['hours']``, or the hours X was set
    from), so the inbox's due_at is the overdue timer's due time."""
    late = {}
    for _, proc in processes().values():
        setters = deadline_setters(proc)
        into = {}
        for flow in proc.iter(B + "sequenceFlow"):
            into.setdefault(flow.get("targetRef"), []).append(flow.get("sourceRef"))
        for timer in proc.iter(B + "boundaryEvent"):
            if not timer.get("id").endswith("_overdue_timer"):
                continue
            expression = timer.findtext("bpmn:timerEventDefinition/bpmn:timeDate", namespaces=NS)
            variable = expression.removesuffix("['due']")
            task = proc.find(f'.//bpmn:userTask[@id="{timer.get("attachedToRef")}"]', NS)
            sub = task.getparent()
            assert sub.tag == B + "subProcess", task.get("id")
            own = props(task).get("dueHours") == f"{variable}['hours']" and variable in PER_DEPARTMENT
            if own:  # 分工: each department's own deadline, picked in its instance from the stage's
                scripts = " ".join(t.findtext("bpmn:script", namespaces=NS) for t in sub.iter(B + "scriptTask"))
                assert f"{variable} = {PER_DEPARTMENT[variable]}['departments']" in scripts, task.get("id")
                variable = PER_DEPARTMENT[variable]
            sources = into[sub.get("id")]
            assert all(setters.get(s, (None,))[0] == variable for s in sources), (sub.get("id"), sources)
            hours = {setters[s][1] for s in sources} - {"None"}  # None: the stage's default, not an expression
            assert own or props(task).get("dueHours") in {f"{variable}['hours']", *hours}, task.get("id")
            late[task.get("id")] = variable
    assert late == {
        "report_in": "report_in_deadline", "handle": "handle_deadline", "verify": "verify_deadline",
        "handle_dispatched": "handle_deadline", "verify_dispatched": "verify_deadline",
        "review": "review_deadline", "review_head": "review_deadline",
    }


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_scripts_and_conditions_are_sandbox_friendly(path):
    root = parse(path).getroot()
    for task in root.iter(B + "scriptTask"):
        script = task.findtext("bpmn:script", namespaces=NS)
        assert script and script.strip(), task.get("id")
        check_python(script, "exec", task.get("id"))
    for flow in root.iter(B + "sequenceFlow"):
        cond = flow.findtext("bpmn:conditionExpression", namespaces=NS)
        if cond is not None:
            check_python(cond, "eval", flow.get("id"))


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_decision_gateways_have_conditions_and_a_default(path):
    root = parse(path).getroot()
    flows = {f.get("id"): f for f in root.iter(B + "sequenceFlow")}
    for gw in root.iter(B + "exclusiveGateway"):
        outgoing = [f for f in flows.values() if f.get("sourceRef") == gw.get("id")]
        if len(outgoing) < 2:
            continue
        assert gw.get("name"), gw.get("id")
        default = gw.get("default")
        assert default in {f.get("id") for f in outgoing}, f"{gw.get('id')} has no default flow"
        for f in outgoing:
            if f.get("id") != default:
                assert f.findtext("bpmn:conditionExpression", namespaces=NS), f.get("id")


def test_call_activities_and_decisions_resolve():
    procs = processes()
    decisions = {
        d.get("id") for path in DMN_FILES for d in parse(path).getroot().iterfind("dmn:decision", NS)
    }
    for path in BPMN_FILES:
        root = parse(path).getroot()
        for call in root.iter(B + "callActivity"):
            assert call.get("calledElement") in procs, call.get("id")
        for rule in root.iter(B + "businessRuleTask"):
            ref = rule.findtext("bpmn:extensionElements/spiffworkflow:calledDecisionId", namespaces=NS)
            assert ref in decisions, rule.get("id")


def test_multi_instance_subprocesses_keep_instance_data_apart():
    _, proc = processes()["whistle"]
    # Loop data refs are QName references: bpmn.io drops them on save unless they resolve to an
    # element, so the collections are declared as process properties (SpiffWorkflow ignores those).
    variables = {p.get("id") for p in proc.iterfind("bpmn:property", NS)}
    found = {}
    for sp in proc.iter(B + "subProcess"):
        mi = sp.find("bpmn:multiInstanceLoopCharacteristics", NS)
        if mi is None:
            continue
        assert mi.get("isSequential") in (None, "false"), "report-in, handling and evaluation run in parallel"
        found[sp.get("id")] = (
            mi.findtext("bpmn:loopDataInputRef", namespaces=NS),
            mi.find("bpmn:inputDataItem", NS).get("id"),
        )
        # An output item stops each instance's form data from being merged back into the whistle.
        assert mi.findtext("bpmn:loopDataOutputRef", namespaces=NS), sp.get("id")
        assert mi.find("bpmn:outputDataItem", NS) is not None, sp.get("id")
        for ref in ("loopDataInputRef", "loopDataOutputRef"):
            assert mi.findtext(f"bpmn:{ref}", namespaces=NS) in variables, (
                f"{sp.get('id')}: {ref} is not declared"
            )
        # Inside each instance the department is `dept`, set by the instance's first (script) task.
        (first,) = [
            f.get("targetRef")
            for f in sp.iterfind("bpmn:sequenceFlow", NS)
            if f.get("sourceRef") == sp.find("bpmn:startEvent", NS).get("id")
        ]
        script = sp.find(f'bpmn:scriptTask[@id="{first}"]', NS)
        assert script is not None and f"dept = {found[sp.get('id')][1]}" in script.findtext(
            "bpmn:script", namespaces=NS
        )
    assert found == MULTI_INSTANCE


def test_names_are_chinese_then_english():
    for path in BPMN_FILES:
        for node in flow_nodes(parse(path).getroot()):
            name = node.get("name")
            merge = node.tag == B + "exclusiveGateway" and name is None
            if merge:
                continue
            assert name, f"{path.name}: {node.get('id')} has no name"
            assert any("\u4e00" <= ch <= "\u9fff" for ch in name), name
            assert any(ch.isascii() and ch.isalpha() for ch in name), name


# --------------------------------------------------------------------------- DMN
def test_whistle_levels_decision_table():
    root = parse(PROCESSES / "whistle_levels.dmn").getroot()
    table = root.find('dmn:decision[@id="whistle_levels"]/dmn:decisionTable', NS)
    assert table.get("hitPolicy") == "UNIQUE"
    assert [
        i.findtext("dmn:inputExpression/dmn:text", namespaces=NS) for i in table.iterfind("dmn:input", NS)
    ] == ["level"]
    assert [o.get("name") for o in table.iterfind("dmn:output", NS)] == [
        "filing_required",
        "next_level",
        "level_name",
    ]
    rows = {}
    for rule in table.iterfind("dmn:rule", NS):
        (level,) = [
            ast.literal_eval(e.findtext("dmn:text", namespaces=NS))
            for e in rule.iterfind("dmn:inputEntry", NS)
        ]
        rows[level] = tuple(
            ast.literal_eval(e.findtext("dmn:text", namespaces=NS))
            for e in rule.iterfind("dmn:outputEntry", NS)
        )
    assert rows == {
        "community": (False, "street", "社区哨"),
        "street": (True, "district", "街道哨"),
        "district": (False, None, "区级哨"),
    }


# --------------------------------------------------------------------------- forms
FORM_FILES = sorted(FORMS.glob("*.schema.json"))


def test_every_form_is_used_by_a_user_task():
    used = {t[1] for tasks in USER_TASKS.values() for t in tasks.values()}
    assert {p.name for p in FORM_FILES} == used


@pytest.mark.parametrize("path", FORM_FILES, ids=lambda p: p.name)
def test_form_is_a_valid_json_schema_in_house_style(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert any("\u4e00" <= ch <= "\u9fff" for ch in schema["title"])
    assert set(schema.get("required", [])) <= set(schema["properties"])
    for name, field in schema["properties"].items():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in field["title"]), f"{path.name}:{name}"
        assert field.get("description"), f"{path.name}:{name}"
        assert "enum" not in field, f"{path.name}:{name}: choices use oneOf/const/title"
        for option in field.get("oneOf", []):
            assert set(option) <= {"const", "title", "description"}, f"{path.name}:{name}"  # description: English
        if field.get("type") == "array" and name == "materials":
            assert field.get("x-widget") == "attachments"


def _valid(form: str, data: dict) -> bool:
    schema = json.loads((FORMS / form).read_text(encoding="utf-8"))
    return Draft202012Validator(schema).is_valid(data)


@pytest.mark.parametrize(
    "form, data, ok",
    [
        ("triage.schema.json", {"grade": 2, "matter": "illegal_parking"}, True),
        ("triage.schema.json", {"grade": 3, "matter": "garbage"}, False),  # level needed for a whistle
        ("triage.schema.json", {"grade": 3, "matter": "garbage", "level": "street"}, True),
        ("triage.schema.json", {"grade": 1, "matter": "garbage"}, False),
        ("triage.schema.json", {"grade": 2, "matter": "x", "extra": 1}, False),
        ("handle_dispatched.schema.json", {"action": "returned"}, False),  # reason needed
        ("handle_dispatched.schema.json", {"action": "returned", "reason": "非本部门职责"}, True),
        ("handle_dispatched.schema.json", {"action": "handled", "materials": ["a.jpg"]}, True),
        ("supervise_answer.schema.json", {"reason": "人手不足", "measures": "增派人员",
         "promised_date": "2026-06-09"}, True),
        ("supervise_answer.schema.json", {"reason": "人手不足", "measures": "增派人员"}, False),  # by when?
        ("supervise_answer.schema.json", {"reason": "人手不足", "measures": "增派人员",
         "promised_date": "明天"}, False),
        ("supervise_answer.schema.json", {"reason": "", "measures": "增派人员", "promised_date": "2026-06-09"}, False),
        ("supervise.schema.json", {"verdict": "press", "note": "请于今日报到", "answer_hours": 4}, True),
        ("supervise.schema.json", {"verdict": "accept", "note": "认可"}, True),
        ("supervise.schema.json", {"verdict": "press"}, False),  # a 督办 says what is wanted
        ("supervise.schema.json", {"verdict": "explain", "note": "请说明"}, False),
        ("supervise.schema.json", {"verdict": "press", "note": "请说明", "answer_hours": 0}, False),
        ("review.schema.json", {"decision": "return"}, False),
        ("review.schema.json", {"decision": "approve"}, True),
        ("coordinate.schema.json", {"meeting_held": True, "decision": "escalate"}, False),
        (
            "coordinate.schema.json",
            {"meeting_held": True, "decision": "escalate", "escalate_reason": "需区级协调"},
            True,
        ),
        ("prepare_whistle.schema.json", {"summary": "垃圾满溢", "situation": "fallback"}, True),
        ("prepare_whistle.schema.json", {"summary": "垃圾满溢", "situation": "other"}, False),
        (
            "evaluate.schema.json",
            {"efficiency": 5, "cooperation": 4, "professionalism": 3, "responsibility": 1},
            True,
        ),
        (
            "evaluate.schema.json",
            {"efficiency": 6, "cooperation": 4, "professionalism": 3, "responsibility": 1},
            False,
        ),
        ("evaluate.schema.json", {"efficiency": 5, "cooperation": 4, "professionalism": 3}, False),
        ("callback.schema.json", {"satisfaction": "basically_satisfied"}, True),
        ("callback.schema.json", {"satisfaction": "happy"}, False),
        ("verify.schema.json", {}, False),
        ("feedback.schema.json", {"feedback": "已清运", "contacted": True}, True),
    ],
)
def test_forms_accept_and_reject(form, data, ok):
    assert _valid(form, data) is ok


# --------------------------------------------------------------------------- diagram interchange
def _bounds(shape: etree._Element) -> tuple[float, float, float, float]:
    b = shape.find("dc:Bounds", NS)
    return float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height"))


def _inside(inner, outer) -> bool:
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def _on_border(point, box, tol=1.0) -> bool:
    px, py = point
    x, y, w, h = box
    within_x = x - tol <= px <= x + w + tol
    within_y = y - tol <= py <= y + h + tol
    on_vertical = abs(px - x) <= tol or abs(px - x - w) <= tol
    on_horizontal = abs(py - y) <= tol or abs(py - y - h) <= tol
    return within_x and within_y and (on_vertical or on_horizontal)


def _on_gateway_corner_or_border(point, box) -> bool:
    # Gateways are diamonds: flows attach at the four corners.
    x, y, w, h = box
    corners = {(x + w / 2, y), (x + w / 2, y + h), (x, y + h / 2), (x + w, y + h / 2)}
    return any(abs(point[0] - cx) <= 1 and abs(point[1] - cy) <= 1 for cx, cy in corners)


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_diagram_has_a_shape_or_edge_for_everything(path):
    root = parse(path).getroot()
    planes = root.findall("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert len(planes) == 1
    collaboration = root.find("bpmn:collaboration", NS)
    assert collaboration is not None and planes[0].get("bpmnElement") == collaboration.get("id")
    shapes = {s.get("bpmnElement"): s for s in root.iter(qname("bpmndi", "BPMNShape"))}
    edges = {e.get("bpmnElement"): e for e in root.iter(qname("bpmndi", "BPMNEdge"))}
    participants = collaboration.findall("bpmn:participant", NS)
    assert {p.get("processRef") for p in participants} == {
        p.get("id") for p in root.iterfind("bpmn:process", NS)
    }
    for participant in participants:
        assert participant.get("id") in shapes
        assert shapes[participant.get("id")].get("isHorizontal") == "true"
    for proc in root.iterfind("bpmn:process", NS):
        assert proc.find("bpmn:laneSet", NS) is not None, proc.get("id")
        for lane in proc.iter(B + "lane"):
            assert lane.get("id") in shapes, lane.get("id")
        for node in flow_nodes(proc):
            assert node.get("id") in shapes, f"no BPMNShape for {node.get('id')}"
        for flow in proc.iter(B + "sequenceFlow"):
            assert flow.get("id") in edges, f"no BPMNEdge for {flow.get('id')}"
            assert len(edges[flow.get("id")].findall("di:waypoint", NS)) >= 2
    for sp in root.iter(B + "subProcess"):
        assert shapes[sp.get("id")].get("isExpanded") == "true"


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_layout_is_tidy(path):
    """Nodes sit inside their lane (or subprocess), edges are orthogonal and attach to their shapes."""
    root = parse(path).getroot()
    shapes = {s.get("bpmnElement"): _bounds(s) for s in root.iter(qname("bpmndi", "BPMNShape"))}
    for proc in root.iterfind("bpmn:process", NS):
        lane_ids = {lane.get("name"): lane.get("id") for lane in proc.iter(B + "lane")}
        lanes = lanes_by_node(proc)
        for node in flow_nodes(proc):
            parent = node.getparent()
            in_subprocess = parent.tag == B + "subProcess"
            container = parent.get("id") if in_subprocess else lane_ids[lanes[node.get("id")]]
            assert _inside(shapes[node.get("id")], shapes[container]), (
                f"{node.get('id')} sticks out of {container}"
            )
        nodes = {n.get("id"): n for n in flow_nodes(proc)}
        for flow in proc.iter(B + "sequenceFlow"):
            edge = root.find(f'.//bpmndi:BPMNEdge[@bpmnElement="{flow.get("id")}"]', NS)
            points = [(float(w.get("x")), float(w.get("y"))) for w in edge.findall("di:waypoint", NS)]
            for (x1, y1), (x2, y2) in itertools.pairwise(points):
                assert x1 == x2 or y1 == y2, f"{flow.get('id')} has a diagonal segment"
            for point, ref in ((points[0], flow.get("sourceRef")), (points[-1], flow.get("targetRef"))):
                box = shapes[ref]
                if nodes[ref].tag == B + "exclusiveGateway":
                    assert _on_gateway_corner_or_border(point, box), f"{flow.get('id')} misses {ref}"
                else:
                    assert _on_border(point, box), f"{flow.get('id')} misses {ref}"
