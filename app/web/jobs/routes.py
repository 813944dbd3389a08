"""Job progress: the component polls this until the job is done."""
from flask import Blueprint

from app import queues
from app.htmx import render_fragment
from app.permissions import role_required

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("/<job_id>")
@role_required("jobs.view")
def progress(job_id: str):
    return render_fragment("components/job_progress.html", "job_progress", job=queues.job_status(job_id))
