"""统计考核 Assessment: indicators per department and per whistling unit, computed from the record.

Every figure is defined once (:mod:`app.assessment.indicators`: code, label, formula shown in the
UI and in docs/assessment.md), computed from stored rows only (report-ins, evaluations, inbox
rows, 督办 entries, cases, events), and carries the cases it was counted from, so an auditor can
re-compute it and a reader can drill down to each case.
"""
