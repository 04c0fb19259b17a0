"""The batch states a client polls for (signing/batch.py): a batch whose worker died shows
``stalled`` instead of running forever, and a batch is sealed once even if run twice."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest

from api.context import AppContext
from api.routers.signing_batch import seal_batches
from core.clock import FixedClock
from signing.batch import BatchNotFound, BatchState, FileState, Upload
from tests.api.signing_batch.conftest import Sealers
from tests.signing._pdf import make_pdf


def _create(ctx: AppContext, sealers: Sealers, count: int = 2) -> str:
    uploads = [Upload(f"f{n}.pdf", io.BytesIO(make_pdf(text=f"F{n}"))) for n in range(count)]
    batch = seal_batches(ctx).create(
        sealers.entity_id, uploads, owner=sealers.operator_id, level="B-B"
    )
    return batch.id


def test_batch_without_progress_for_ten_minutes_shows_stalled(
    ctx: AppContext, sealers: Sealers, clock: FixedClock
) -> None:
    batch_id = _create(ctx, sealers)
    jobs = seal_batches(ctx)
    clock.advance(dt.timedelta(minutes=9))
    assert jobs.get(batch_id, owner=sealers.operator_id).state is BatchState.RUNNING
    clock.advance(dt.timedelta(minutes=2))
    assert jobs.get(batch_id, owner=sealers.operator_id).state is BatchState.STALLED
    with pytest.raises(BatchNotFound):
        jobs.result(batch_id, owner=sealers.operator_id)


def test_running_a_batch_twice_seals_each_file_once(ctx: AppContext, sealers: Sealers) -> None:
    batch_id = _create(ctx, sealers)
    first = seal_batches(ctx).run(batch_id)
    assert [f.state for f in first.files] == [FileState.SEALED, FileState.SEALED]
    again = seal_batches(ctx).run(batch_id)
    assert again.state is BatchState.FINISHED
    seals = [e for e in ctx.ledger.tail(200) if e.event == "signing.pdf.sealed"]
    assert len(seals) == 2


@pytest.mark.redis
def test_another_worker_sees_progress_and_result_through_redis(
    ctx: AppContext, sealers: Sealers
) -> None:
    from core.cache import RedisCache
    from signing.batch import SealBatches
    from tests.core.test_cache import _redis_cache

    first = _redis_cache()
    # A second worker: its own connection to the same Redis, nothing shared in memory.
    second = RedisCache.from_url(
        os.environ.get("NATID_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), prefix=first._prefix
    )

    def worker(cache: RedisCache) -> SealBatches:
        return SealBatches(signing=ctx.signing(), cache=cache, clock=ctx.clock, ledger=ctx.ledger,
                           root=ctx.settings.data_dir / "seal-batches")  # fmt: skip

    uploads = [Upload("one.pdf", io.BytesIO(make_pdf())), Upload("bad.pdf", io.BytesIO(b"%PDF"))]
    batch = worker(first).create(sealers.entity_id, uploads, owner=sealers.operator_id)
    assert worker(second).get(batch.id, owner=sealers.operator_id).done == 0
    worker(first).run(batch.id)
    seen = worker(second).get(batch.id, owner=sealers.operator_id)
    assert (seen.state, seen.sealed, seen.failed) == (BatchState.FINISHED, 1, 1)
    assert worker(second).result(batch.id, owner=sealers.operator_id).is_file()
