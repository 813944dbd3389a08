"""Job progress: the component polls this until the job is done, then announces `job-finished`."""
from flask import Blueprint

from app import queues
from app.htmx import render_fragment, trigger
from app.permissions import role_required

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def job_progress_response(template: str, block: str, job: queues.JobStatus, **context):
    """A fragment holding a job's progress; once the job is done, pages refresh what it changed."""
    response = render_fragment(template, block, job=job, **context)
    return trigger(response, "job-finished") if job.done else response


@bp.get("/<job_id>")
@role_required("jobs.view")
def progress(job_id: str):
    return job_progress_response("components/job_progress.html", "job_progress", queues.job_status(job_id))
