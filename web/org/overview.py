"""The dashboard (30-day funnel as SVG, bounce / held / batch counts) and the bounce list."""
from __future__ import annotations

from flask import render_template
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from markupsafe import Markup

from postbox import dashboard
from postbox.dashboard import Overview
from web.i18n import day
from web.org import area, bp, me, postbox
from web.org.chart import columns, funnel


def _share(part: int, whole: int) -> str:
    return format_percent(part / whole, "#,##0 %") if whole else "–"


def _charts(view: Overview) -> tuple[Markup, Markup, list[tuple[str, int, str]]]:
    f = view.funnel
    stages = [(_("Consigned"), f.consigned), (_("Notified"), f.notified),
              (_("Retrieved"), f.retrieved), (_("Unread after 7 days"), f.unread_after_7_days)]
    rows = [(label, n, f"{format_decimal(n)} ({_share(n, f.consigned)})") for label, n in stages]
    desc = "; ".join(f"{label}: {shown}" for label, _n, shown in rows)
    funnel_svg = funnel("funnel", _("Deliveries in the last 30 days"), desc, rows)
    series = [(day(d), n, format_decimal(n)) for d, n in view.daily]
    top = max([n for _d, n in view.daily] + [0])
    daily_svg = columns(
        "daily", _("Documents consigned per day"),
        _("From %(first)s to %(last)s; most in one day: %(top)s.", first=series[0][0],
          last=series[-1][0], top=format_decimal(top)),
        series, format_decimal(top), ticks=(0, len(series) // 2, len(series) - 1))
    return funnel_svg, daily_svg, rows


@bp.get("/dashboard", endpoint="dashboard")
@area("overview")
def dashboard_page() -> str:
    view = dashboard.overview(postbox(), me().org_id)
    funnel_svg, daily_svg, rows = _charts(view)
    return render_template("org/dashboard.html", view=view, funnel_svg=funnel_svg,
                           daily_svg=daily_svg, rows=rows)


@bp.get("/bounces")
@area("overview")
def bounces() -> str:
    return render_template("org/bounces.html",
                           recipients=dashboard.bouncing(postbox(), me().org_id))

