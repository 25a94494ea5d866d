"""Field names that recorded data carries, named once: mechanism words, not a locality's.

Events are hash-chained (the journal): a key once written into an event's data stays that key for
as long as the chain is verified, whatever a locality calls its units. These constants are those
keys, so that no other module spells them and a locality's words never leak into the code.
"""

from __future__ import annotations

# The recorded field naming the responding unit: the unit a case is dispatched to (派单), that a
# whistle summons and that reports in (报到), is rated (一哨一考) or sent back (退回). The demo locality
# calls such units departments (部门), and so did the first recorded events; the key is kept for the
# audit chain. The same word names the forms' widget picking such a unit (``"x-widget"`` in
# processes/forms) and the field of a 分工 (division) row, which the recorded data share.
RESPONDING_UNIT = "department"

# The report's field naming its place (a unit of a report-place kind); LEGACY_PLACE_FIELD, as the API
# first named it, is still accepted and is found in ``case_created`` events recorded before.
PLACE_FIELD = "place"
LEGACY_PLACE_FIELD = "grid"
