"""Connects a datagram socket to $NOTIFY_SOCKET, leaves it open across exec, names it in
$ECG_EMOTIOND_NOTIFY_FD and execs the command given (Node), which keeps this process's PID."""
import os
import socket
import sys

path = os.environ["NOTIFY_SOCKET"]
if path.startswith("@"):
    path = "\0" + path[1:]  # an abstract socket
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect(path)
    os.set_inheritable(s.fileno(), True)
    os.environ["ECG_EMOTIOND_NOTIFY_FD"] = str(s.fileno())
except OSError as err:
    # The daemon then says each message through systemd-notify; it still runs.
    print(f"ecg-emotiond: cannot connect to NOTIFY_SOCKET {path!r}: {err}", file=sys.stderr)
os.execv(sys.argv[1], sys.argv[1:])
