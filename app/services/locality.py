"""The locality model (config/locality.yaml): unit kinds, roles and their capabilities, whistle
levels and stages — everything a locality decides, as data the code reads.

The code knows capabilities (what a role may do) and mechanisms (a unit kind that can be summoned,
a level filed with a kind of unit); it never names a role, a unit kind, a level or a stage of a
particular locality. The file is validated on load: an error names the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.definitions import configuration
from app.definitions.configuration import CONFIG_DIR

LOCALITY_FILE = CONFIG_DIR / "locality.yaml"

# What the code checks; a role in the locality model grants any of these.
CAPABILITIES = {
    "self_handle": "record a problem of its own unit as fixed on the spot (grade 1)",
    "blow_whistle": "blow a whistle of its unit's level at once when reporting",
    "assign": "hand a task of its unit to a colleague (指派)",
    "see_contact": "see the reporter's name and phone",
    "publish": "make files visible to the reporter",
    "audit": "read the history and dossier of every case it can see",
    "assess": "see the assessment figures (统计考核) of every unit within its own, and their rankings",
    "administer": "deploy process versions and retry timer incidents",
    "import_orders": "import work orders from outside systems (12345 hotline exports) as cases of its units",
    "print_qr_codes": "print the QR-code sheet (我要上报) of the buildings within its units",
    "read_only": "changes nothing: a user holding only such roles is refused every write",
}
# What the code does with the tasks of a stage that `means` one of these (stages: <code>: {means: …}).
STAGE_MEANINGS = {
    "review": "a decision of the review chain: approve or return, recorded as review_approved / review_returned",
    "filing": "a filing with the platform (备案), recorded as whistle_filed",
    "report_in": "a summoned unit's report-in: the case page lists who has not reported in yet",
    "rating": "the reporter's rating (回访): the public tracking page asks the reporter for it",
    "triage": "triage of a new report (研判): its page lists likely duplicates, and the report may be merged into "
              "an open case or closed as a duplicate of one (重复件)",
}
_KIND_FLAGS = ("holds_cases", "report_place", "summoned", "rated")
MAX_KIND_LENGTH, MAX_ROLE_LENGTH = 16, 32  # the columns that store them


class LocalityError(ValueError):
    """A locality model that cannot be used; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Label:
    zh: str
    en: str

    def text(self, english: bool = False) -> str:
        return self.en if english else self.zh

    def __str__(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class UnitKind:
    code: str
    label: Label
    parents: tuple[str, ...]
    holds_cases: bool
    report_place: bool
    summoned: bool
    rated: bool
    head_role: str | None
    task_roles: dict[str, str]  # a task in this lane, given to a unit of this kind, goes to this role


@dataclass(frozen=True)
class Role:
    code: str
    label: Label
    capabilities: frozenset[str]


@dataclass(frozen=True)
class WhistleLevel:
    code: str
    label: Label
    blown_by: str
    filed_with: str | None
    verified_by: str
    escalates_to: str | None
    review_chain: tuple[str, ...] = ()  # the reviewers' roles, in order, before the head's approval


@dataclass(frozen=True)
class Locality:
    unit_kinds: dict[str, UnitKind]
    roles: dict[str, Role]
    levels: dict[str, WhistleLevel]
    stages: dict[str, Label]
    stage_meanings: dict[str, str]  # stage → what the code does with its tasks (STAGE_MEANINGS)

    def roles_with(self, capability: str) -> frozenset[str]:
        assert capability in CAPABILITIES, capability
        return frozenset(code for code, role in self.roles.items() if capability in role.capabilities)

    def kinds_where(self, flag: str) -> frozenset[str]:
        assert flag in _KIND_FLAGS, flag
        return frozenset(code for code, kind in self.unit_kinds.items() if getattr(kind, flag))

    def stages_meaning(self, meaning: str) -> frozenset[str]:
        """The stages whose tasks the code treats as ``meaning`` (a review decision, a filing ...)."""
        assert meaning in STAGE_MEANINGS, meaning
        return frozenset(code for code, m in self.stage_meanings.items() if m == meaning)

    def head_role(self, kind: str) -> str | None:
        unit_kind = self.unit_kinds.get(kind)
        return unit_kind.head_role if unit_kind else None

    def task_role(self, kind: str, lane_role: str) -> str:
        """Who does a task of this lane at a unit of this kind: the lane's role, unless the kind
        names another for it (a property company's staff report in where a department's would)."""
        unit_kind = self.unit_kinds.get(kind)
        return unit_kind.task_roles.get(lane_role, lane_role) if unit_kind else lane_role


@configuration.loader("locality")
def _read(config: configuration.Configuration) -> Locality:
    return parse_locality(config.text("locality.yaml"), "locality.yaml")


def load_locality() -> Locality:
    """The locality model in effect: the case's version during its step, else the latest deployed
    version's (a deploy takes effect on the next request), else config/locality.yaml on disk."""
    return configuration.load("locality")  # type: ignore[no-any-return]


def parse_locality(text: str, name: str = "locality.yaml") -> Locality:
    raw, lines = configuration.yaml_with_lines(text, name, LocalityError)
    return _Reader(name, lines).locality(raw)


class _Reader:
    """Reads the raw YAML into the model, raising the first problem with its file, line and field."""

    def __init__(self, name: str, lines: dict[tuple[str, ...], int]) -> None:
        self.name = name
        self.lines = lines

    def fail(self, path: tuple[str, ...], message: str) -> LocalityError:
        return LocalityError(f"{configuration.where(self.name, self.lines, path)}: {message}")

    def mapping(self, value: Any, path: tuple[str, ...], required: bool = True) -> dict[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, dict) or not value:
            raise self.fail(path, "must be a mapping with at least one entry")
        return {str(k): v for k, v in value.items()}

    def label(self, value: Any, path: tuple[str, ...]) -> Label:
        if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k] for k in ("zh", "en")):
            raise self.fail(path, "needs a label {zh: 中文, en: English}")
        return Label(value["zh"], value["en"])

    def known(self, value: Any, path: tuple[str, ...], table: dict[str, Any], what: str, nullable: bool) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or value not in table:
            raise self.fail(path, f"unknown {what} '{value}' (known: {', '.join(sorted(table))})")
        return value

    def locality(self, raw: Any) -> Locality:
        top = self.mapping(raw, ())
        unknown = set(top) - {"unit_kinds", "roles", "whistle_levels", "stages"}
        if unknown:
            raise self.fail((sorted(unknown)[0],), "unknown section (unit_kinds, roles, whistle_levels, stages)")
        roles = {code: self.role(code, item) for code, item in self.mapping(top.get("roles"), ("roles",)).items()}
        kinds_raw = self.mapping(top.get("unit_kinds"), ("unit_kinds",))
        kinds = {code: self.kind(code, item, kinds_raw, roles) for code, item in kinds_raw.items()}
        levels_raw = self.mapping(top.get("whistle_levels"), ("whistle_levels",), required=False)
        levels = {code: self.level(code, item, kinds, levels_raw, roles) for code, item in levels_raw.items()}
        stages_raw = self.mapping(top.get("stages"), ("stages",))
        stages = {code: self.label(item, ("stages", code)) for code, item in stages_raw.items()}
        meanings = {code: self.known(item.get("means"), ("stages", code, "means"), STAGE_MEANINGS, "meaning", True)
                    for code, item in stages_raw.items() if isinstance(item, dict)}
        return Locality(kinds, roles, levels, stages, {code: m for code, m in meanings.items() if m})

    def role(self, code: str, item: Any) -> Role:
        path = ("roles", code)
        item = self.mapping(item, path)
        if len(code) > MAX_ROLE_LENGTH:
            raise self.fail(path, f"a role's code has at most {MAX_ROLE_LENGTH} characters")
        capabilities = item.get("capabilities") or []
        if not isinstance(capabilities, list):
            raise self.fail((*path, "capabilities"), "must be a list")
        for index, capability in enumerate(capabilities):
            self.known(capability, (*path, "capabilities", str(index)), CAPABILITIES, "capability", False)
        return Role(code, self.label(item.get("label"), (*path, "label")), frozenset(capabilities))

    def kind(self, code: str, item: Any, kinds: dict[str, Any], roles: dict[str, Role]) -> UnitKind:
        path = ("unit_kinds", code)
        item = self.mapping(item, path)
        parents = item.get("parents") or []
        if not isinstance(parents, list):
            raise self.fail((*path, "parents"), "must be a list of unit kinds")
        for index, parent in enumerate(parents):
            self.known(parent, (*path, "parents", str(index)), kinds, "unit kind", False)
        for flag in _KIND_FLAGS:
            if not isinstance(item.get(flag, False), bool):
                raise self.fail((*path, flag), "must be true or false")
        if len(code) > MAX_KIND_LENGTH:
            raise self.fail(path, f"a unit kind's code has at most {MAX_KIND_LENGTH} characters")
        return UnitKind(
            code, self.label(item.get("label"), (*path, "label")), tuple(parents),
            *(bool(item.get(flag, False)) for flag in _KIND_FLAGS),
            head_role=self.known(item.get("head_role"), (*path, "head_role"), roles, "role", True),
            task_roles=self.task_roles(item.get("task_roles"), (*path, "task_roles"), roles),
        )

    def task_roles(self, value: Any, path: tuple[str, ...], roles: dict[str, Role]) -> dict[str, str]:
        mapping = self.mapping(value, path, required=False)
        for lane, role in mapping.items():
            self.known(lane, (*path, lane), roles, "role", False)
            self.known(role, (*path, lane), roles, "role", False)
        return dict(mapping)

    def level(self, code: str, item: Any, kinds: dict[str, UnitKind], levels: dict[str, Any],
              roles: dict[str, Role]) -> WhistleLevel:
        path = ("whistle_levels", code)
        item = self.mapping(item, path)
        return WhistleLevel(
            code, self.label(item.get("label"), (*path, "label")),
            blown_by=self.known(item.get("blown_by"), (*path, "blown_by"), kinds, "unit kind", False),
            filed_with=self.known(item.get("filed_with"), (*path, "filed_with"), kinds, "unit kind", True),
            verified_by=self.known(item.get("verified_by"), (*path, "verified_by"), kinds, "unit kind", False),
            escalates_to=self.known(item.get("escalates_to"), (*path, "escalates_to"), levels, "whistle level", True),
            review_chain=self.review_chain(item.get("review_chain"), (*path, "review_chain"), roles),
        )

    def review_chain(self, value: Any, path: tuple[str, ...], roles: dict[str, Role]) -> tuple[str, ...]:
        """The reviewers' roles in order; missing or [] is a chain of none (straight to the head)."""
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(path, "must be a list of roles, in review order")
        return tuple(self.known(role, (*path, str(index)), roles, "role", False) for index, role in enumerate(value))
