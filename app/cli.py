"""flask commands: users, demo, secrets, settings, and the conformance commands."""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Callable

import click
from cryptography.fernet import Fernet
from flask import Flask
from flask.cli import AppGroup

from app.permissions import ROLES
from app.services import ServiceError

users_cli = AppGroup("users", help="Staff accounts.")
demo_cli = AppGroup("demo", help="Demo data.")
secrets_cli = AppGroup("secrets", help="Encryption keys for credentials at rest.")
routing_cli = AppGroup("routing", help="Supplier routing.")
rules_cli = AppGroup("rules", help="Routing rule sets.")
stock_cli = AppGroup("stock", help="Supplier stock.")
sync_cli = AppGroup("sync", help="Stock sync with suppliers.")
feeds_cli = AppGroup("feeds", help="Supplier stock feeds.")
intake_cli = AppGroup("intake", help="Order intake from sales channels.")
orders_cli = AppGroup("orders", help="Orders after intake: routing, reservations, supplier orders.")
channels_cli = AppGroup("channels", help="Sales channels.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the person comes to Dropdesk for.")
@click.option("--name", default=None, help="Display name (default: the e-mail's local part).")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it once instead of prompting.")
def create_user(email: str, role: str, name: str | None, generate_password: bool) -> None:
    """Create a user; the password is prompted for, or generated and printed once."""
    from app.services import users

    if generate_password or not sys.stdin.isatty():
        password, generated = users.generate_password(), True
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        generated = False
    try:
        user = users.create_user(email, role, password, name=name, actor="cli")
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    click.echo(f"Created {user.email} ({user.role}).")
    if generated:
        click.echo(f"Password (shown once): {password}")


@users_cli.command("list")
def list_users() -> None:
    """List users with their role and status."""
    from app.services import users

    after = None
    while True:
        page = users.list_users(after=after, per_page=500)
        for row in page.items:
            click.echo(f"{row.User.email:40} {row.User.role:8} {'active' if row.User.active else 'inactive'}")
        if not page.has_next:
            break
        after = page.next_cursor


@demo_cli.command("seed")
def seed_demo() -> None:
    """Create demo users, suppliers, products, offers and stock (idempotent)."""
    from app.services import demo

    result = demo.seed()
    if result.changed:
        click.echo(f"Demo data: +{result.users} users, +{result.suppliers} suppliers, +{result.products} products, "
                   f"+{result.offers} offers, +{result.stock_rows} stock rows, {result.connections} sandbox connections set, "
                   f"+{result.shipping_services} shipping services, +{result.rule_sets} rule sets, +{result.orders} orders, "
                   f"+{result.channels} channels, +{result.intake_payloads} orders through intake.")
    else:
        click.echo("Demo data already present; nothing changed.")


@demo_cli.command("logins")
def demo_logins() -> None:
    """Print the demo logins."""
    from app.services import demo

    for email, role in demo.demo_logins():
        click.echo(f"  {role:8} {email} / {demo.DEMO_PASSWORD}")


@secrets_cli.command("new-key")
def new_key() -> None:
    """Print a new Fernet key: put it first in SECRETS_KEYS, then run `flask secrets rotate`."""
    click.echo(Fernet.generate_key().decode())


@secrets_cli.command("rotate")
def rotate_secrets() -> None:
    """Re-encrypt every stored credential with the newest key of SECRETS_KEYS."""
    from app.services import credentials

    try:
        count = credentials.rotate_all()
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    click.echo(f"Re-encrypted {count} stored credential set(s) with the newest key.")


@click.command("settings")
def settings() -> None:
    """Print every setting, its default and meaning (the README's table)."""
    from app.config import SETTINGS

    click.echo("| Setting | Default | Meaning |\n|---|---|---|")
    for s in SETTINGS:
        click.echo(f"| `{s.name}` | {f'`{s.default}`' if s.default else '—'} | {s.meaning} |")


@stock_cli.command("set")
@click.argument("supplier")
@click.argument("sku")
@click.argument("quantity", type=click.IntRange(min=0))
def set_stock(supplier: str, sku: str, quantity: int) -> None:
    """Set SUPPLIER's figure for its SKU by hand (logged as manual, audited)."""
    from app.services import stock_updates

    try:
        result = stock_updates.set_manually(supplier, sku, quantity, actor="cli")
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    click.echo(f"{supplier} {sku}: {quantity} on hand ({'changed' if result.changed else 'unchanged'}).")


@sync_cli.command("run")
@click.argument("supplier")
@click.option("--full", is_flag=True, help="A full pull even when a delta would do.")
def run_sync_now(supplier: str, full: bool) -> None:
    """Pull SUPPLIER's stock now, in this process, and say what happened."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Supplier
    from app.services import sync

    found = db.session.scalar(select(Supplier).where(Supplier.code == supplier))
    if found is None:
        raise click.ClickException(f"No supplier {supplier}.")
    try:
        run = sync.run_sync(found.id, kind="full" if full else None, trigger="manual")
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    if run is None:
        raise click.ClickException(f"Another sync of {supplier} is running.")
    click.echo(f"Run {run.id}: {run.kind} {run.outcome}; {run.records_seen:,} records, {run.changed:,} changed, "
               f"{run.rejected} rejected, {run.http_errors} HTTP errors{'; ' + run.error_message if run.error_message else ''}.")
    if run.outcome == "failed":
        sys.exit(1)


def _scenario_files(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        elif path.exists():
            files.append(path)
        else:
            raise click.ClickException(f"{raw}: no such file or folder.")
    return files


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def run_scenarios(paths: tuple[str, ...], evaluate: Callable[[dict], dict]) -> None:
    """Print one JSON line per scenario file: `evaluate(scenario)` plus its name; errors name the file."""
    failed = False
    for path in _scenario_files(paths):
        try:
            scenario = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
            if not isinstance(scenario, dict):
                raise ValueError("a scenario file holds one JSON object")
            result = evaluate(scenario)
        except (ValueError, KeyError, TypeError) as problem:
            failed = True
            click.echo(f"{path.name}: {problem}", err=True)
            click.echo(json.dumps({"name": path.name, "error": str(problem)}))
            continue
        click.echo(json.dumps({"name": scenario.get("name", path.name), **result}, default=_json_default))
    if failed:
        sys.exit(1)


@routing_cli.command("simulate")
@click.argument("paths", nargs=-1, required=True)
def routing_simulate(paths: tuple[str, ...]) -> None:
    """Route each scenario file (ROUTING.md); prints plans, touches no database."""
    from app.domain.routing import simulate_scenario

    run_scenarios(paths, simulate_scenario)


@routing_cli.command("route")
@click.argument("order_id", type=int)
def routing_route(order_id: int) -> None:
    """Route ORDER_ID on live data under the active rule set and store the decision."""
    from app.services import routing

    try:
        decision = routing.route_stored_order(order_id, trigger="cli")
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    plan = decision.plan
    version = f"v{decision.rule_set_version}" if decision.rule_set_version else "no rule set"
    if decision.status == "routed":
        shipments = "; ".join(f"{s['supplier']} ({', '.join(line['sku'] for line in s['lines'])}) {s['landed_cost']:.2f}"
                              for s in plan["shipments"])
        click.echo(f"Decision {decision.id} ({version}): routed, {shipments}; landed cost {plan['landed_cost']:.2f}, "
                   f"{plan['delivery_days']} days.")
    else:
        click.echo(f"Decision {decision.id} ({version}): manual review, {decision.reason}.")
    stale = sum(1 for entry in decision.trace if entry["kind"] == "freshness")
    if stale:
        click.echo(f"{stale} offer(s) rest on stock older than the freshness budget (see the trace).")


@routing_cli.command("rerun")
@click.argument("decision_id", type=int)
def routing_rerun(decision_id: int) -> None:
    """Replay a stored decision on its own input and compare; exit 1 when the plan differs."""
    from app.services import routing

    try:
        rerun = routing.rerun_decision(decision_id)
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    click.echo("Same plan." if rerun.same_plan else "Different plan: " + "; ".join(rerun.differences))
    click.echo("Today's live input is the same." if rerun.same_input_today
               else "Today's live input differs (stock, shipping or supplier data changed since).")
    if not rerun.same_plan:
        sys.exit(1)


@rules_cli.command("list")
def rules_list() -> None:
    """Every rule-set version, newest first."""
    from app.services import rule_sets

    after = None
    while True:
        page = rule_sets.list_rule_sets(after=after, per_page=500)
        for row in page.items:
            s = row.RuleSet
            click.echo(f"v{s.version:<4} {s.status:9} {len(s.rules):3} rules  {s.note or ''}")
        if not page.has_next:
            break
        after = page.next_cursor


@rules_cli.command("activate")
@click.argument("version", type=int)
def rules_activate(version: int) -> None:
    """Activate draft VERSION (the active set is archived; audited as "cli")."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import RuleSet
    from app.services import rule_sets

    rule_set_id = db.session.scalar(select(RuleSet.id).where(RuleSet.version == version))
    if rule_set_id is None:
        raise click.ClickException(f"No rule set version {version}.")
    try:
        rule_sets.activate(rule_set_id, actor="cli")
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    click.echo(f"Version {version} is active.")


@feeds_cli.command("normalize")
@click.argument("paths", nargs=-1, required=True)
def feeds_normalize(paths: tuple[str, ...]) -> None:
    """Normalize each feed scenario file (FEEDS.md); touches no database."""
    from app.domain.feeds import normalize_scenario

    run_scenarios(paths, normalize_scenario)


@intake_cli.command("normalize")
@click.argument("paths", nargs=-1, required=True)
def intake_normalize(paths: tuple[str, ...]) -> None:
    """Normalize each channel order scenario file (CHANNELS.md); touches no database."""
    from app.channels import normalize_scenario

    run_scenarios(paths, normalize_scenario)


@orders_cli.command("fulfil")
@click.argument("order_id", type=int)
def orders_fulfil(order_id: int) -> None:
    """Route an accepted ORDER_ID, hold its stock and make its supplier orders (the workers send them)."""
    from app.services import fulfilment

    try:
        outcome = fulfilment.fulfil_order(order_id)
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    shipments = fulfilment.shipments_of(order_id)
    click.echo(f"Order {order_id}: {outcome.status.replace('_', ' ')}. {outcome.message}".rstrip())
    for shipment in shipments:
        click.echo(f"  {shipment.supplier.code} {shipment.status} key {shipment.idempotency_key}: "
                   + ", ".join(f"{line['qty']} × {line['sku']}" for line in shipment.lines))


@orders_cli.command("show")
@click.argument("order_id", type=int)
def orders_show(order_id: int) -> None:
    """An order's status, each supplier order with its tracking, and what its reservations hold."""
    from app.services import fulfilment, routing

    try:
        order = routing.get_order(order_id)
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    click.echo(f"Order {order.label} ({order.channel}): {order.status.replace('_', ' ')}")
    for shipment in fulfilment.shipments_of(order_id):
        tracking = f", {shipment.tracking_carrier} {shipment.tracking_number}" if shipment.tracking_number else ""
        click.echo(f"  {shipment.supplier.code} {shipment.status}{tracking} (ref {shipment.supplier_ref or '—'})")
    for reservation, events in fulfilment.ledger_of(order_id):
        click.echo(f"  hold #{reservation.id} {reservation.qty} × {reservation.supplier_sku}: {reservation.state} "
                   f"({', '.join(event.kind for event in events)})")


@orders_cli.command("cancel")
@click.argument("order_id", type=int)
@click.option("--reason", required=True, help="Why: kept on the order's timeline.")
def orders_cancel(order_id: int, reason: str) -> None:
    """Cancel ORDER_ID: at each supplier that has not shipped it, its reservations released."""
    from app.services import fulfilment

    if not reason.strip():
        raise click.ClickException("Say why the order is cancelled (--reason).")
    try:
        outcome = fulfilment.cancel_order(order_id, "cli", reason)
    except ServiceError as problem:
        raise click.ClickException(problem.message) from None
    click.echo(f"Order {order_id}: {outcome.status.replace('_', ' ')}; {len(outcome.cancelled)} supplier order(s) "
               f"cancelled, {len(outcome.kept)} already shipped, {len(outcome.failed)} could not be reached.")


@channels_cli.command("publish")
@click.argument("code")
def channels_publish(code: str) -> None:
    """Tell channel CODE what it may sell now (only what changed since it was last told)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Channel
    from app.services import channel_publish

    channel_id = db.session.scalar(select(Channel.id).where(Channel.code == code))
    if channel_id is None:
        raise click.ClickException(f"No channel {code}.")
    report = channel_publish.publish_channel_quantities(channel_id)
    click.echo(f"{report.channel}: {report.outcome}; {report.sent} sent ({report.delisted} delisted, {report.relisted} "
               f"relisted) of {report.compared} compared. {report.message}".rstrip())
    if report.outcome == "failed":
        sys.exit(1)


def init_app(app: Flask) -> None:
    for command in (users_cli, demo_cli, secrets_cli, stock_cli, sync_cli, routing_cli, rules_cli, feeds_cli, intake_cli,
                    orders_cli, channels_cli, settings):
        app.cli.add_command(command)
