"""tools/nbgrade.py: what it takes out of stock nbgrader's log before the honest-grading tests read it."""

from tools.nbgrade import without_shutdown_race

# as a fresh-clone run logged it (01-workspace, stock nbgrader autograde, ipykernel 7.4.0)
RACE = """[AutogradeApp | INFO] Converting notebook /tmp/x/autograded/wrong3/01-workspace/01-workspace.ipynb
[IPKernelApp] ERROR | Exception in callback
Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/zmq/eventloop/zmqstream.py", line 585, in _log_error
    f.result()
  File "/v/lib/python3.11/site-packages/ipykernel/kernelbase.py", line 372, in dispatch_control
    await self.process_control(msg)
  File "/v/lib/python3.11/site-packages/ipykernel/kernelbase.py", line 406, in process_control
    sys.stdout.flush()
  File "/v/lib/python3.11/site-packages/ipykernel/iostream.py", line 697, in flush
    self.pub_thread.schedule(evt.set)
  File "/v/lib/python3.11/site-packages/ipykernel/iostream.py", line 343, in schedule
    self._event_pipe.send(b"")
  File "zmq/backend/cython/_zmq.py", line 190, in zmq.backend.cython._zmq._check_rc
zmq.error.ZMQError: Socket operation on non-socket
[AutogradeApp | INFO] Setting destination file permissions to 444
"""

# the same error raised anywhere else is still an error the tests must see
OTHER_ZMQ = """Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/nbclient/client.py", line 1, in async_execute
    await self.kc.shell_channel.send(msg)
zmq.error.ZMQError: Socket operation on non-socket
"""
PLAIN = """Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/nbgrader/apps/autogradeapp.py", line 9, in start
    raise ValueError("bad")
ValueError: bad
"""


def test_only_the_kernel_shutdown_race_is_dropped():
    cleaned = without_shutdown_race(RACE)
    assert "Traceback" not in cleaned and "shutdown race" in cleaned
    assert cleaned.splitlines()[0] == RACE.splitlines()[0] and cleaned.endswith("permissions to 444\n")
    for kept in (OTHER_ZMQ, PLAIN, PLAIN + RACE):
        assert "Traceback (most recent call last)" in without_shutdown_race(kept), kept
    assert without_shutdown_race(PLAIN + RACE).count("Traceback") == 1
