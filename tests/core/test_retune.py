"""Mid-visit thread retuning on the worker side: the receiver thread takes a ``Retune`` while
the main thread trains, and the visit's batches apply it to torch (real pipe, real torch)."""

from __future__ import annotations

import threading
from multiprocessing import Pipe

from cerebro.backend import channel
from cerebro.backend.receiver import Receiver
from cerebro.backend.worker import VisitThreads
from cerebro.wire import ModelIO, Retune, VisitTask

IO = ModelIO(("x",), ("y",), ((1,),), ((1,),))


def _task(threads):
    return VisitTask("train", "m", 0, 0, "spec", None, "out", 8, 1, IO, threads=threads)


def test_the_receiver_hands_visits_on_and_retunes_aside_in_order():
    driver, worker = Pipe()
    wanted: list = []
    receiver = Receiver(worker, wanted.append)
    receiver.start()
    for msg in (_task(1), Retune(2), Retune(1), _task(None), "shutdown"):
        channel.send(driver, msg)
    assert receiver.next().threads == 1
    assert receiver.next().threads is None
    assert receiver.next() == "shutdown"
    assert wanted == [1, 2, 1, None]  # each visit's own count before it is handed on
    driver.close()


def test_the_receiver_says_none_when_the_driver_goes_away():
    driver, worker = Pipe()
    receiver = Receiver(worker, lambda n: None)
    receiver.start()
    driver.close()
    assert receiver.next() is None


def test_a_retune_takes_effect_at_the_next_batch_in_the_training_thread():
    import torch

    before = torch.get_num_threads()
    try:
        threads = VisitThreads("torch", 1)
        assert threads.apply(None) == 1 and torch.get_num_threads() == 1
        seen = threading.Event()
        threading.Thread(target=lambda: (threads.want(2), seen.set())).start()
        seen.wait(5)
        assert torch.get_num_threads() == 1  # not before a batch asks
        threads.follow()
        assert torch.get_num_threads() == 2 and threads.used == 2
        threads.want(1)
        threads.follow()
        assert torch.get_num_threads() == 1 and threads.used == 2  # the most it ran with
        assert 1.0 <= threads.thread_s(1.0) / 1.0 <= 2.0  # the time-weighted mean
    finally:
        torch.set_num_threads(before)


def test_other_backends_keep_their_own_threads():
    threads = VisitThreads("jax", 1)
    assert threads.apply(None) == 1
    threads.want(2)
    threads.follow()
    assert threads.used == 1


def test_a_local_master_lends_the_host_cores_not_its_task_slots():
    from cerebro.backend.resources import usable_cores, worker_cores

    host = usable_cores()
    # The seed's master("local") with one worker: every core of the host, as AutoKeras uses.
    assert worker_cores("local", 1, 1) == host
    assert worker_cores("local[2]", 1, 2) == max(1, host // 2)
    assert worker_cores("local[*]", 2, 64) == 2  # spark.task.cpus stays the floor
    assert worker_cores("spark://10.0.0.1:7077", 3, 1) == 3  # a cluster: spark.task.cpus
