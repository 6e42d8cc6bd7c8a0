from comfy_backend.metrics import Sample, ServerMetrics


def test_ring_buffers_are_bounded_and_series_work():
    m = ServerMetrics(history=5)
    for i in range(12):
        m.add_sample(Sample(t=float(i), latency_ms=float(i), queue_running=1, queue_pending=i, foreign=0,
                            in_flight=1, vram_free=100 - i, vram_total=100, ram_free=None))
    assert len(m.samples) == 5
    assert [v for _, v in m.series("queue_pending")] == [7, 8, 9, 10, 11]
    assert m.last_latency_ms == 11.0 and m.last_heartbeat == 11.0
    m.add_sample(Sample(t=12.0, latency_ms=None, queue_running=0, queue_pending=0, foreign=0,
                        in_flight=0, vram_free=None, vram_total=None, ram_free=None))
    assert m.last_heartbeat == 11.0  # a failed check is not a heartbeat


def test_jobs_per_minute_and_mean_run_time():
    m = ServerMetrics(window_s=300)
    now = 1000.0
    for k in range(30):
        m.record_success(run_seconds=2.0, queue_wait=0.1, now=now - 120 + k * 4)
    m.record_failure()
    assert m.completed == 30 and m.failed == 1
    assert 14 <= m.jobs_per_minute(now=now) <= 16
    assert m.mean_run_seconds() == 2.0
    assert m.jobs_per_minute(now=now + 10_000) == 0.0
