"""Sales channels for admins: where orders come from, their secrets (write-only) and what each accepts."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from app import queues
from app.htmx import render_page
from app.models.channel import REQUIRABLE_FIELDS
from app.permissions import role_required
from app.services import ServiceError, channel_publish, channel_settings
from app.services.channel_http import OUTBOUND_KINDS
from app.web.jobs.routes import job_progress_response
from app.web.listing import list_args, url_with

bp = Blueprint("channels", __name__, url_prefix="/admin/channels")


def _form_page(channel, status: int = 200, error: str | None = None, field: str | None = None, values=None,
               generated: str | None = None):
    listing_context = {}
    if channel is not None:
        args = list_args("problem", default_sort="sku")
        try:
            listings = channel_publish.listings_page(channel, after=args["after"] or None, problem=args["problem"])
        except ServiceError:
            args["after"] = ""
            listings = channel_publish.listings_page(channel, problem=args["problem"])
        listing_context = {"listings": listings, "listing_summary": channel_publish.listing_summary(channel),
                           "aliases_of": channel_publish.channel_skus(channel), "args": args, "url_with": url_with}
    return render_page("channels/form.html", fragments=("channel_listings",), status=status, channel=channel,
                       error=error, error_field=field, values=values, kinds=channel_settings.KIND_LABELS,
                       requirable=REQUIRABLE_FIELDS, secret_labels=channel_settings.SECRET_LABELS,
                       secrets_of_kind=channel_settings.SECRETS_OF_KIND, aliases_text=channel_settings.aliases_text,
                       generated=generated, outbound_kinds=OUTBOUND_KINDS, **listing_context)


@bp.get("")
@role_required("channels.manage")
def index():
    return render_page("channels/index.html", channels=channel_settings.list_channels(), kinds=channel_settings.KIND_LABELS)


@bp.get("/new")
@role_required("channels.manage")
def new():
    return _form_page(None)


@bp.get("/<code>")
@role_required("channels.manage")
def edit(code: str):
    try:
        return _form_page(channel_settings.get_channel(code))
    except ServiceError:
        abort(404)


@bp.post("")
@bp.post("/<code>")
@role_required("channels.manage")
def save(code: str | None = None):
    form = request.form
    existing = None
    if code:
        try:
            existing = channel_settings.get_channel(code)
        except ServiceError:
            abort(404)
    generated = channel_settings.new_token() if form.get("generate_token") else None
    secrets = {name: form.get(f"secret-{name}", "") for name in channel_settings.SECRET_LABELS}
    if generated:
        secrets["api_token"] = generated
    change = channel_settings.ChannelChange(
        name=form.get("name", ""), kind=form.get("kind", existing.kind if existing else ""),
        active=form.get("active") == "on", allowed_countries=form.get("allowed_countries", ""),
        accept_test_orders=form.get("accept_test_orders") == "on", required_fields=form.getlist("required_fields"),
        express_required_fields=form.getlist("express_required_fields"), sku_aliases=form.get("sku_aliases", ""),
        base_url=form.get("base_url", ""), secrets=secrets, clear=form.getlist("clear"),
        **_publishing(form))
    try:
        channel = channel_settings.save_channel(code or form.get("code", ""), change, current_user)
    except ServiceError as problem:
        return _form_page(existing, status=422, error=problem.message, field=problem.field, values=form)
    if generated:
        # Shown once, here; afterwards only "set ••••••••".
        return _form_page(channel, generated=generated)
    flash(f"Channel {channel.code} saved.", "success")
    return redirect(url_for("channels.edit", code=channel.code))




def _publishing(form) -> dict:
    """The publishing fieldset's values, when the form carried it (a kind without an API has none)."""
    if not form.get("publish_settings"):
        return {}
    return {"publish_quantities": form.get("publish_quantities") == "on", "publish_ratio": form.get("publish_ratio", ""),
            "publish_safety_units": form.get("publish_safety_units", "")}


@bp.post("/<code>/publish")
@role_required("channels.manage")
def publish_now(code: str):
    """"Publish now": the channel's publishing job straight away; the fragment follows its progress."""
    try:
        job_id = channel_publish.start_publish_now(code, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    return job_progress_response("channels/form.html", "publish_progress", queues.job_status(job_id))
