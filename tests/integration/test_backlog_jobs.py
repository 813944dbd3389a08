"""Backlog jobs (intake's drain): one job keeps up with a stream of events, and no event is left without a job."""
from __future__ import annotations

import pytest

from app import queues

FLAG = "test-backlog"


@pytest.fixture
def enqueued(app, monkeypatch):
    """The jobs queued, recorded instead of run; the flag cleared before and after."""
    jobs: list[str] = []
    monkeypatch.setattr(queues, "enqueue", lambda job, *args, **kwargs: jobs.append(job) or f"job-{len(jobs)}")
    queues.job_started(FLAG)
    yield jobs
    queues.job_started(FLAG)


def flag_is_set() -> bool:
    return bool(queues.connection().exists(queues.PENDING_FLAG_KEY.format(FLAG)))


def test_events_arriving_while_the_job_drains_queue_no_other_job_and_are_all_taken_in(enqueued):
    backlog, taken, arrivals = [1, 2], [], iter([[3, 4], [], [5]])

    def drain() -> int:
        items = list(backlog)
        backlog.clear()
        taken.extend(items)
        for item in next(arrivals, []):  # an event during this pass: stored, then it asks for a job
            backlog.append(item)
            queues.enqueue_unless_pending(FLAG, "drain_job")
        return len(items)

    assert queues.enqueue_unless_pending(FLAG, "drain_job") == "job-1"
    assert queues.drain_backlog(FLAG, "drain_job", drain) == 5
    assert taken == [1, 2, 3, 4, 5] and not backlog
    assert enqueued == ["drain_job"]  # only the first event's job
    assert not flag_is_set()
    assert queues.enqueue_unless_pending(FLAG, "drain_job") == "job-2"  # the next event gets a job at once


def test_a_job_out_of_time_hands_the_backlog_to_a_new_job(enqueued):
    backlog = list(range(10))

    def drain() -> int:
        if not backlog:
            return 0
        backlog.pop()
        return 1

    assert queues.drain_backlog(FLAG, "drain_job", drain, budget_seconds=0) == 1
    assert enqueued == ["drain_job"] and flag_is_set()  # the successor is queued and holds the flag


def test_a_job_run_by_a_worker_lingers_for_the_next_events_instead_of_leaving_them_a_new_process(enqueued, monkeypatch):
    monkeypatch.setattr(queues, "runs_inline", lambda: False)
    monkeypatch.setattr(queues, "LINGER_POLL_SECONDS", 0.01)
    passes, taken = iter([[1], [], [], [2], []]), []

    def drain() -> int:
        items = next(passes, [])
        taken.extend(items)
        return len(items)

    assert queues.drain_backlog(FLAG, "drain_job", drain, linger_seconds=0.5) == 2
    assert taken == [1, 2] and enqueued == [] and not flag_is_set()
