"""The caseload table's rows, written here rather than in the template.

A therapist's caseload is fifty or more rows of about twenty figures each; placed one by one by the template,
each figure cost an attribute lookup, a filter and an escape into a new Markup, and the table cost more than
the query that fills it. Here each row is one f-string. As in server/charts.py, every text that comes from the
database (names, ids, timestamps) is escaped; the rest are numbers formatted here, the fixed words of a
status and "3 days ago". The standard library's escape, because markupsafe's wraps each result in a new
Markup, which cost more than the rest of a row.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from server.clinic.queries import UNREVIEWED_CAP
from server.clinic.schemas import CaseloadRow, ScoreSummary
from server.web import ago

NONE = "—"


def _score(s: ScoreSummary | None) -> str:
    if s is None:
        return NONE
    badge = f' <span class="badge badge-{s.status}">{s.status}</span>' if s.status else ""
    return f'{int(s.latest)} <span class="muted">{int(s.change):+d} from {int(s.baseline)}</span>{badge}'


def _row(p: CaseloadRow, now: str) -> str:
    week, change = p.mood_7d, p.mood_7d_change
    if week is None:
        mood = NONE
    elif change is None:
        mood = str(week)
    else:
        mood = f'{week} <span class="change {"down" if change < 0 else "up"}">({change:+.1f})</span>'
    checkin, integration, session = p.last_checkin_at, p.next_integration, p.next_session
    integration_text = integration[:16].replace("T", " ") if integration else ""
    # One f-string, not a template string filled by format(): a row is built ~50 times a page.
    return f"""    <tr class="{"flagged" if p.open_high_flags else ""}">
      <th scope="row"><a href="/clinic/patients/{escape(p.id)}">{escape(p.display_name)}</a></th>
      <td>{f'<strong class="flag-count">{p.open_flags}</strong>' if p.open_flags else NONE}</td>
      <td>{f'<time datetime="{escape(checkin)}">{ago(checkin, now)}</time>' if checkin else NONE}</td>
      <td>{mood}</td>
      <td>{_score(p.phq9)}</td>
      <td>{_score(p.gad7)}</td>
      <td>{f"{UNREVIEWED_CAP}+" if p.unreviewed >= UNREVIEWED_CAP else (p.unreviewed or NONE)}</td>
      <td>{f'<time datetime="{escape(integration)}">{escape(integration_text)}</time>' if integration else NONE}</td>
      <td>{f'<time datetime="{escape(session)}">{escape(session[:10])}</time>' if session else NONE}</td>
    </tr>
"""


def table_rows(rows: list[CaseloadRow], now: str) -> Markup:
    """The ``<tr>`` of each patient, in the order given; ``now`` (stored form) dates "3 days ago"."""
    return Markup("".join([_row(p, now) for p in rows]))  # noqa: S704 - every text from the database is escaped
