"""`sitegate-central` commands for the province rules and what they read: ``rules show|set``,
``projects list|show|set|manager|company``, ``notify add|list|remove|send|outbox``,
``quality``, ``report`` (mirrors of rules.py, registry.py, notify.py, quality.py, report.py)."""
from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from .cli_common import db_option, emit, json_always, json_option, working
from .codes import InputError, check_month


def _ctx(db):
    from .cli_common import home, open_store
    from .crypto import FieldCipher, load_key
    return open_store(db), FieldCipher(load_key(home()))


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from exc


def _region(value):
    if value is not None and not (len(value) == 2 and value.isdigit()):
        raise click.BadParameter("a province prefix: two digits, e.g. 45", param_hint="--region")
    return value


def _json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, default=str, sort_keys=True))


def register(main: click.Group) -> None:
    # ------------------------------------------------------------ rules
    @main.group()
    def rules():
        """The warning rules in force, every parameter with its source."""

    @rules.command("show")
    @click.option("--region", callback=lambda c, p, v: _region(v),
                  help="Province prefix (45 Guangxi, 43 Hunan, 37 Shandong, 65 Xinjiang, "
                       "34 Anhui, ...); default: the defaults every region starts from.")
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def rules_show(region, as_json, db):
        """Print the effective rule table for a region: rule, parameter, value, source."""
        from .rules import PROFILES, table
        from .warnings import overrides
        store = _ctx(db)[0]
        with store.engine.connect() as conn:
            rows = table(region, overrides(conn))
        if as_json:
            _json(rows)
            return
        name = PROFILES.get(region or "", {}).get("name", "defaults" if not region else
                                                   "no built-in profile")
        t = Table("rule", "name", "parameter", "value", "source", "responsible",
                  title=f"region {region or '*'} ({name})")
        for r in rows:
            t.add_row(r["rule"], r["name"], r["param"], str(r["value"]), r["source"],
                      r["responsible"])
        Console(width=200).print(t)

    @rules.command("set")
    @click.argument("region")
    @click.argument("rule")
    @click.argument("key")
    @click.argument("value")
    @click.option("--source", required=True,
                  help="Where the number comes from (document and article).")
    @json_option
    @db_option
    def rules_set(region, rule, key, value, source, as_json, db):
        """Override one parameter for REGION ('*' or a province prefix); the override names
        its source."""
        from .rules import BY_CODE, LIFECYCLE, effective
        from .tables import rule_params
        if region != "*":
            _region(region)
        if rule != "*" and rule not in BY_CODE:
            raise click.BadParameter(f"unknown rule {rule!r}", param_hint="RULE")
        known = effective(region)
        if (rule, key) not in known and key not in LIFECYCLE:
            raise click.BadParameter(f"{rule} has no parameter {key!r}", param_hint="KEY")
        like = known.get((rule, key), LIFECYCLE.get(key))[0]
        if isinstance(like, int) and not value.lstrip("-").isdigit():
            raise click.BadParameter(f"{key} is a whole number", param_hint="VALUE")
        store = _ctx(db)[0]
        with store.engine.begin() as conn:
            conn.execute(rule_params.delete().where(rule_params.c.region == region,
                                                    rule_params.c.rule == rule,
                                                    rule_params.c.key == key))
            conn.execute(rule_params.insert().values(region=region, rule=rule, key=key,
                                                     value=value, source=source[:300]))
        emit({"region": region, "rule": rule, "key": key, "value": value, "source": source[:300]},
             as_json, f"{region} {rule} {key} = {value} ({source})")

    # ------------------------------------------------------------ projects
    @main.group()
    def projects():
        """Projects: what the province rules read (sector, push schedule, dates, managers,
        participating companies)."""

    @projects.command("list")
    @click.option("--region", callback=lambda c, p, v: _region(v))
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def projects_list(region, as_json, db):
        import sqlalchemy as sa
        from .tables import projects as pt
        store = _ctx(db)[0]
        q = sa.select(pt.c.projectCode, pt.c.name, pt.c.areaCode, pt.c.prjStatus, pt.c.sector,
                      pt.c.pushSchedule, pt.c.startDate).order_by(pt.c.projectCode)
        if region:
            q = q.where(pt.c.areaCode.like(f"{region}%"))
        with store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        if as_json:
            _json(rows)
            return
        t = Table("project", "name", "area", "status", "sector", "push", "start")
        for r in rows:
            t.add_row(*[str(r[k] or "") for k in ("projectCode", "name", "areaCode", "prjStatus",
                                                 "sector", "pushSchedule", "startDate")])
        Console().print(t)

    @projects.command("show")
    @click.argument("code")
    @json_always
    @db_option
    def projects_show(code, as_json, db):
        """One project as JSON; managers' names, ID numbers and phones masked."""
        from .registry import Registry
        try:
            _json(Registry(*_ctx(db)).project_view(code))
        except InputError as exc:
            _fail(exc)

    @projects.command("set")
    @click.argument("code")
    @click.option("--sector", help="building, municipal, transport, water, railway, aviation, "
                                   "energy, other")
    @click.option("--push-schedule", type=click.Choice(["daily", "semimonthly"]))
    @click.option("--permit-date")
    @click.option("--contract-start")
    @click.option("--labour-cost-ratio", metavar="PERCENT")
    @click.option("--tripartite-ref", metavar="REF")
    @click.option("--status", type=click.Choice(["001", "002", "003", "004", "005"]))
    @click.option("--notice-board-date")
    @click.option("--builder-license")
    @json_option
    @db_option
    def projects_set(code, sector, push_schedule, permit_date, contract_start,
                     labour_cost_ratio, tripartite_ref, status, notice_board_date,
                     builder_license, as_json, db):
        """Change the given fields of a project."""
        from .registry import Registry
        fields = {k: v for k, v in {
            "sector": sector, "pushSchedule": push_schedule, "permitDate": permit_date,
            "contractStartDate": contract_start, "labourCostRatio": labour_cost_ratio,
            "tripartiteAgreementRef": tripartite_ref, "prjStatus": status,
            "noticeBoardDate": notice_board_date, "builderLicenseNum": builder_license}.items()
            if v is not None}
        if not fields:
            raise click.UsageError("nothing to change: give at least one option")
        try:
            Registry(*_ctx(db)).update_project(code, **fields)
        except InputError as exc:
            _fail(exc)
        emit({"project": code, "updated": sorted(fields)}, as_json,
             f"{code}: {', '.join(sorted(fields))} updated")

    @projects.command("manager")
    @click.argument("code")
    @click.option("--role", required=True,
                  type=click.Choice(["labour-manager", "project-manager", "project-lead"]))
    @click.option("--name", required=True)
    @click.option("--phone")
    @click.option("--id-type", default="01", show_default=True)
    @json_option
    @db_option
    def projects_manager(code, role, name, phone, id_type, as_json, db):
        """Record the labour manager, project manager or project lead. The ID number is read
        at a hidden prompt (or from standard input), never from an option."""
        from .registry import Registry
        if sys.stdin.isatty():
            idn = click.prompt("ID number", hide_input=True, err=as_json)
        else:
            idn = sys.stdin.readline().strip()
        key = {"labour-manager": "laborManager", "project-manager": "projectManager",
               "project-lead": "projectLead"}[role]
        try:
            Registry(*_ctx(db)).set_manager(code, key, name, idn, phone, id_type)
        except InputError as exc:
            _fail(exc)
        emit({"project": code, "role": role, "result": "recorded"}, as_json, f"{code}: {role} recorded")

    @projects.command("company")
    @click.argument("code")
    @click.option("--corp-code", required=True)
    @click.option("--corp-type", required=True, help="参建单位类型 001-012 (006 劳务分包, ...)")
    @click.option("--entry")
    @click.option("--exit", "exit_")
    @click.option("--pm-name", help="Responsible person on the project.")
    @json_option
    @db_option
    def projects_company(code, corp_code, corp_type, entry, exit_, pm_name, as_json, db):
        """Add or replace a participating company of the project."""
        from .registry import Registry
        try:
            Registry(*_ctx(db)).add_project_company({
                "projectCode": code, "corpCode": corp_code, "corpType": corp_type,
                "entryTime": entry, "exitTime": exit_, "pmName": pm_name})
        except InputError as exc:
            _fail(exc)
        emit({"project": code, "corp_code": corp_code, "corp_type": corp_type}, as_json,
             f"{code}: company {corp_code} ({corp_type})")

    # ------------------------------------------------------------ notify
    @main.group()
    def notify():
        """Where warnings are sent (Apprise URLs per region and party) and the outbox."""

    @notify.command("add")
    @click.option("--region", required=True, help="'*' or a province prefix.")
    @click.option("--party", required=True,
                  type=click.Choice(["client", "contractor", "subcontractor", "project_lead",
                                     "bank", "authority"]))
    @click.option("--url-env", metavar="VAR",
                  help="Read the Apprise URL from this environment variable (URLs carry keys: "
                       "default is a hidden prompt or standard input).")
    @json_option
    @db_option
    def notify_add(region, party, url_env, as_json, db):
        """Add a notification target (wecom://, dingtalk://, feishu://, mailto://, json://…);
        the URL is stored SM4-sealed."""
        import os
        from .notify import add_target
        if url_env:
            url = os.environ.get(url_env, "")
        elif sys.stdin.isatty():
            url = click.prompt("Apprise URL", hide_input=True, err=as_json)
        else:
            url = sys.stdin.readline().strip()
        try:
            tid = add_target(*_ctx(db), region, party, url)
        except InputError as exc:
            _fail(exc)
        emit({"target": tid, "region": region, "party": party}, as_json,
             f"target {tid}: {region} {party}")

    @notify.command("list")
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def notify_list(as_json, db):
        from .notify import list_targets
        rows = list_targets(_ctx(db)[0])
        if as_json:
            _json(rows)
            return
        for r in rows:
            click.echo(f"{r['id']}\t{r['region']}\t{r['party']}\t{r['urlMasked']}")

    @notify.command("remove")
    @click.argument("target_id", type=int)
    @json_option
    @db_option
    def notify_remove(target_id, as_json, db):
        from .notify import remove_target
        try:
            remove_target(_ctx(db)[0], target_id)
        except InputError as exc:
            _fail(exc)
        emit({"target": target_id, "result": "removed"}, as_json, f"removed {target_id}")

    @notify.command("send")
    @json_option
    @db_option
    def notify_send(as_json, db):
        """Send queued notifications now (evaluate does this after each run)."""
        from .notify import Notifier
        with working("sending notifications…", as_json=as_json):
            sent = Notifier(*_ctx(db)).send_pending()
        emit({"sent": sent}, as_json, f"sent {sent}")

    @notify.command("outbox")
    @click.option("--status", type=click.Choice(["pending", "sent", "no_target", "failed"]))
    @json_always
    @db_option
    def notify_outbox(status, as_json, db):
        from .notify import outbox
        _json(outbox(_ctx(db)[0], status))

    # ------------------------------------------------------------ quality and report
    @main.command()
    @click.option("--month", required=True, help="yyyy-MM")
    @click.option("--region", callback=lambda c, p, v: _region(v))
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def quality(month, region, as_json, db):
        """Monthly data-quality check (seed 001 III(3)): completeness, timeliness, logic."""
        from .quality import check
        try:
            with working("checking data quality…", as_json=as_json):
                out = check(_ctx(db)[0], check_month(month, "--month"), region)
        except InputError as exc:
            _fail(exc)
        if as_json:
            _json(out)
            return
        t = Table("project", "group", "item", "count", "detail", "source")
        for i in out["issues"]:
            t.add_row(i["projectCode"], i["group"], i["item"], str(i["count"]), i["detail"],
                      i["source"])
        Console(width=200).print(t)
        click.echo(json.dumps(out["summary"]))

    @main.command()
    @click.option("--month", required=True, help="yyyy-MM")
    @click.option("--region", callback=lambda c, p, v: _region(v))
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                  help="The .xlsx file to write.")
    @json_option
    @db_option
    def report(month, region, output, as_json, db):
        """Monthly report per region and project (XLSX, Chinese headings): warnings opened,
        cleared, overdue and open; data quality."""
        from .report import monthly, write_xlsx
        try:
            with working("building the report…", as_json=as_json):
                rep = monthly(_ctx(db)[0], check_month(month, "--month"), region)
        except InputError as exc:
            _fail(exc)
        write_xlsx(rep, output)
        emit({"output": output, "projects": len(rep["projects"]), "warnings": len(rep["warnings"]),
              "quality_items": len(rep["quality"]["issues"])}, as_json,
             f"wrote {output}: {len(rep['projects'])} projects, {len(rep['warnings'])} warnings, "
             f"{len(rep['quality']['issues'])} data-quality items")
