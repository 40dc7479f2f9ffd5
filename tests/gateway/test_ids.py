"""The gateway's pooled random ids: UUIDv4 as ``uuid.uuid4()`` writes them, never repeated."""

from __future__ import annotations

import os
import threading
import uuid

from console.gateway.ids import random_hex, uuid4


def test_ids_are_version_4_uuids_in_canonical_form_and_all_different():
    ids = [uuid4() for _ in range(5000)]  # more than one 4 KiB draw
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert len(set(ids)) == len(ids)


def test_threads_never_cut_the_same_bytes():
    seen: list[str] = []

    def draw() -> None:
        seen.extend(random_hex(16) for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == len(seen) == 8000


def test_a_forked_child_does_not_repeat_its_parents_next_ids():
    uuid4()  # the parent holds a partly used pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, uuid4().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child and child != uuid4()
