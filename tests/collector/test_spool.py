"""The durable spool on its own: framing, rotation, crash recovery, bounds."""

import os
import threading

import pytest

from modeltrace_collector.pipeline.spool import Position, Spool, SpoolFull


def drain(spool, start=None):
    start = start or spool.committed
    return spool.read(start, 10**9, 10**12)


def test_records_round_trip_across_segments(tmp_path):
    spool = Spool(str(tmp_path), segment_bytes=1000, fsync="never")
    payloads = [os.urandom(100 + i) for i in range(30)]
    seqs = [spool.append(p) for p in payloads]
    records = drain(spool)
    assert [r.payload for r in records] == payloads
    assert [r.seq for r in records] == seqs == list(range(30))
    assert len({r.start.segment for r in records}) > 3  # it rotated


def test_reopen_resumes_after_the_committed_position(tmp_path):
    spool = Spool(str(tmp_path), segment_bytes=500, fsync="always")
    for i in range(10):
        spool.append(b"r%d" % i * 50)
    records = drain(spool)
    spool.begin(records[0].start, records[5].end)
    spool.commit(records[5].end, 6)
    spool.begin(records[6].start, records[9].end)  # crash before this batch was committed
    spool.close()
    again = Spool(str(tmp_path), segment_bytes=500, fsync="always")
    assert again.intent == (records[6].start, records[9].end)
    assert [r.payload for r in drain(again)] == [r.payload for r in records[6:]]
    assert again.depth()[1] == 4
    assert again.append(b"next") == 10


def test_torn_tail_is_cut_and_appends_continue(tmp_path):
    spool = Spool(str(tmp_path), fsync="always")
    spool.append(b"complete")
    spool.close()
    (segment,) = [p for p in os.listdir(tmp_path) if p.endswith(".seg")]
    with open(tmp_path / segment, "ab") as f:
        f.write(b"\x40\x00\x00\x00partial-header-and-some")  # a crash mid-append
    spool = Spool(str(tmp_path), fsync="always")
    spool.append(b"after")
    assert [r.payload for r in drain(spool)] == [b"complete", b"after"]


def test_damaged_record_is_skipped_and_counted(tmp_path):
    spool = Spool(str(tmp_path), fsync="always")
    for p in (b"first", b"second", b"third"):
        spool.append(p)
    spool.close()
    (segment,) = [p for p in os.listdir(tmp_path) if p.endswith(".seg")]
    data = bytearray((tmp_path / segment).read_bytes())
    where = data.index(b"second")
    data[where] ^= 0xFF
    (tmp_path / segment).write_bytes(bytes(data))
    spool = Spool(str(tmp_path), fsync="always")
    assert [r.payload for r in drain(spool)] == [b"first", b"third"]
    assert spool.corrupt >= 1


def test_full_spool_refuses_until_storage_catches_up(tmp_path):
    spool = Spool(str(tmp_path), max_bytes=2000, segment_bytes=600, fsync="never")
    appended = 0
    with pytest.raises(SpoolFull):
        while True:
            spool.append(b"x" * 200)
            appended += 1
    assert 5 <= appended <= 10
    records = drain(spool)
    spool.commit(records[-1].end, len(records))
    spool.append(b"x" * 200)  # room again once consumed segments are dropped
    assert spool.depth()[1] == 1


def test_concurrent_appends_are_all_kept_once(tmp_path):
    spool = Spool(str(tmp_path), segment_bytes=4096, fsync="batch")

    def writer(k):
        for i in range(200):
            spool.append(f"{k}:{i}".encode())

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [r.payload.decode() for r in drain(spool)]
    assert sorted(got) == sorted(f"{k}:{i}" for k in range(6) for i in range(200))
    assert [r.seq for r in drain(spool)] == list(range(1200))


def test_wait_wakes_on_append(tmp_path):
    spool = Spool(str(tmp_path), fsync="never")
    start = Position(spool.committed.segment, 0)
    assert spool.wait(start, 0.05) is False
    threading.Timer(0.05, spool.append, args=(b"x",)).start()
    assert spool.wait(start, 5) is True


def test_a_full_disk_refuses_the_record_and_keeps_the_spool_readable(tmp_path, monkeypatch):
    import errno

    from modeltrace_collector.pipeline import spool as spool_module

    spool = Spool(str(tmp_path), fsync="always")
    spool.append(b"before")
    real_write = os.write

    def disk_full(fd, data):
        real_write(fd, bytes(data[:7]))  # part of the record reaches the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_module.os, "write", disk_full)
    with pytest.raises(SpoolFull, match="No space left on device"):
        spool.append(b"lost-in-the-middle")
    monkeypatch.setattr(spool_module.os, "write", real_write)
    spool.append(b"after")  # space again: appends continue behind the cut partial record
    assert [r.payload for r in drain(spool)] == [b"before", b"after"]
    assert [r.seq for r in drain(spool)] == [0, 1]
    spool.close()
    reopened = Spool(str(tmp_path), fsync="always")
    assert [r.payload for r in drain(reopened)] == [b"before", b"after"]
