"""Merchant templates rendered where the operating system enforces the limits.

Jinja2's sandbox decides what a template may *reach*; it cannot decide how much a template
may *spend*: ``'x'|center(200000000)``, ``'{:>99999999}'.format(1)``, a nested loop or a
recursive macro are all allowed calls, and a single one of them is a C-level operation that
no Python check inside the same process can interrupt. So every render runs in a child
process of its own, which the kernel stops at the limits:

- **CPU**: ``ITIMER_PROF`` of :data:`CPU_SECONDS` (0.5 s of processing time, counted by the
  kernel for this process only, so a machine busy elsewhere does not shorten it) with its
  default action, termination; ``RLIMIT_CPU`` (whole seconds) stands behind it.
- **Memory**: ``RLIMIT_AS`` at the child's own size plus :data:`MEMORY_BYTES`: a huge
  string fails with ``MemoryError`` instead of growing the server.
- **Output**: the child stops at :data:`MAX_OUTPUT_BYTES` of UTF-8 (64 KiB).
- **Wall clock**: the parent stops waiting after :data:`WALL_SECONDS` (time spent looking
  up discounts for the child excluded) and ``alarm`` ends the child itself.
- The child runs at a lower priority (``nice``), so the server's request threads (another
  shop's pricing call) are served first.

Where the children come from: a *render server*, one per serving process, started with
``subprocess`` (fork-and-exec, safe from a threaded gunicorn worker) the first time that
process renders. The server is single-threaded, so it can ``fork`` safely; it holds no
database connection, no socket but its own, no secret, so neither do the children. A render
hands the server one end of a fresh socket pair; the forked child reads the job from it,
asks the parent over it for each discount the template names (``coupon(...)``), and sends
the result. The server reaps the child and sends its exit status on the same socket, which
is how the parent tells a render stopped by the CPU limit from one that crashed. Messages
are JSON, never pickle: the parent trusts nothing a child says. Why not fork the gunicorn
worker itself: it has threads (a lock held by another thread at fork time stays locked in
the child forever) and open database connections a child must never touch. Why not a pool
of long-lived renderers: a process limit such as ``RLIMIT_CPU`` is cumulative and cannot be
lowered back, and a renderer killed at a limit would have to be replaced anyway.

Linux (``/proc``, ``setitimer``) is assumed, as for gunicorn itself. The server is started
with ``sys.executable``: a host that embeds Python under another executable name must
run the extension in an ordinary Python interpreter.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

#: Processing time of one render, seconds (the contract's "at most 0.5 s").
CPU_SECONDS = 0.5
#: The most a rendered message may come to, in bytes of UTF-8 (the contract's 64 KiB).
MAX_OUTPUT_BYTES = 64 * 1024
#: Memory a render may take beyond the renderer's own footprint.
MEMORY_BYTES = 64 * 1024 * 1024
#: How long the parent waits for a render, discount look-ups excluded. A render that kept
#: to its CPU limit only comes near this on a machine overloaded many times over.
WALL_SECONDS = 10.0
#: Different discounts one render may name with ``coupon(...)`` (each is a database look-up
#: made by the parent, outside the child's CPU time, so they are counted instead).
MAX_DISCOUNTS = 20
#: The longest repetition (``'a' * n``) and the largest power a template may ask for: refused
#: by name before the memory limit would stop them.
MAX_REPEAT = 10_000
MAX_EXPONENT = 100
#: The niceness of a rendering child (19 is the lowest priority).
CHILD_NICENESS = 10

_MAX_MESSAGE = 1024 * 1024  # a result: 64 KiB of text, JSON-escaped, with room to spare
_MAX_REF_LENGTH = 1000


def cpu_limit_message() -> str:
    return f"The template used more than {CPU_SECONDS} s of processing time (the limit)."


def output_limit_message() -> str:
    return (
        f"The message is longer than {MAX_OUTPUT_BYTES // 1024} KiB "
        f"({MAX_OUTPUT_BYTES} bytes, the limit)."
    )


def memory_limit_message() -> str:
    return f"The template needed more than {MEMORY_BYTES // 2**20} MiB of memory (the limit)."


def wall_limit_message() -> str:
    return (
        f"The template did not finish within {WALL_SECONDS:g} s "
        f"(each render may use {CPU_SECONDS} s of processing time)."
    )


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` checked so that the usual ways of asking for a
    huge value are refused by name (the process limits stop everything else)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"Powers above {MAX_EXPONENT} are not allowed in messages.")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    if len(seq) * times > MAX_REPEAT:
                        raise SecurityError(
                            f"Repeating to more than {MAX_REPEAT} items is not allowed."
                        )
        return super().call_binop(context, operator, left, right)


def environment(autoescape: bool) -> MessageEnvironment:
    env = MessageEnvironment(autoescape=autoescape, undefined=StrictUndefined)
    env.globals.clear()  # only what we pass in: no range, cycler, joiner, namespace, lipsum
    return env


# -- the parent: one render ------------------------------------------------------------------

#: What the parent answers a child's ``coupon(ref)``: ``{"code": "..."}``,
#: ``{"missing": True}`` (the discount exists, this customer has no usable code of it) or
#: ``{"unknown": "message"}`` (no such discount: the template is wrong).
Lookup = Callable[[str | int], dict[str, Any]]


def render(template: str, fmt: str, customer: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    """Render ``template`` in a child process within the limits.

    Answers ``{"rendered": text, "missing": []}``, ``{"rendered": None, "missing": [refs]}``
    when the customer lacks a code the template asks for, ``{"problem": message}`` when
    the template cannot be rendered (its own mistake or a limit, named in the message), or
    ``{"unavailable": message}`` when no renderer could run it (not the template's doing).
    ``lookup`` is called in this thread while the child waits for its answer.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _server.hand_over(theirs)
    finally:
        theirs.close()
    with Connection(ours.detach()) as conn:
        try:
            conn.send_bytes(_encode({"template": template, "format": fmt, "customer": customer}))
        except OSError:
            pass  # the child is already gone; its exit status says why
        deadline = time.monotonic() + WALL_SECONDS
        lookups = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not conn.poll(remaining):
                return {"problem": wall_limit_message()}  # the child's alarm ends it
            try:
                message = json.loads(conn.recv_bytes(_MAX_MESSAGE))
            except EOFError:
                # The server reports every child's end before it lets go of the socket:
                # without that report, the server itself is gone.
                return {"unavailable": "The renderer stopped; try again."}
            except (OSError, ValueError):
                return {"problem": "The template stopped the renderer."}
            if not isinstance(message, dict):
                return {"problem": "The template stopped the renderer."}
            if "coupon" in message:
                ref = message["coupon"]
                started = time.monotonic()
                lookups += 1
                if lookups > MAX_DISCOUNTS:  # the child counts too; this one cannot be fooled
                    return {"problem": f"A message may name at most {MAX_DISCOUNTS} discounts."}
                if isinstance(ref, bool) or not isinstance(ref, str | int):
                    answer: dict[str, Any] = {"unknown": "coupon() takes a discount."}
                else:
                    answer = lookup(ref)
                deadline += time.monotonic() - started
                try:
                    conn.send_bytes(_encode(answer))
                except OSError:
                    pass
                continue
            if "exit" in message:
                return _exit_problem(message["exit"])
            return _result(message)


def _result(message: dict[str, Any]) -> dict[str, Any]:
    if isinstance(message.get("problem"), str):
        return {"problem": message["problem"]}
    rendered, missing = message.get("rendered"), message.get("missing")
    if (rendered is None or isinstance(rendered, str)) and isinstance(missing, list):
        if all(isinstance(item, str) for item in missing):
            return {"rendered": rendered, "missing": missing}
    return {"problem": "The template stopped the renderer."}


def _exit_problem(status: Any) -> dict[str, str]:
    """What to answer for a child that ended without a result."""
    if not isinstance(status, dict):
        return {"problem": "The template stopped the renderer."}
    if status.get("fork_failed"):
        return {"unavailable": "No renderer could be started; try again."}
    stopped_by = status.get("signal")
    if stopped_by in (signal.SIGPROF, signal.SIGXCPU, signal.SIGKILL):
        return {"problem": cpu_limit_message()}
    if stopped_by == signal.SIGALRM:
        return {"problem": wall_limit_message()}
    # Out of memory while it could not even say so, a crash deep in the interpreter (a
    # C stack overflow), ...: still the template's doing, since nothing else runs there.
    memory = memory_limit_message()[:-1]
    return {"problem": f"The template stopped the renderer ({memory}, or a crash)."}


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()  # ASCII: lone surrogates travel as escapes


# -- the render server (its own process) ------------------------------------------------------


class _RenderServer:
    """This process's render server: started on first use, again after it died or after
    this process was forked (a gunicorn worker of a master that loaded the app)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._owner = 0

    def hand_over(self, sock: socket.socket) -> None:
        with self._lock:
            for attempt in range(2):
                if not self._running():
                    self._start()
                assert self._control is not None
                try:
                    socket.send_fds(self._control, [b"r"], [sock.fileno()])
                    return
                except OSError:
                    self._forget()
                    if attempt:
                        raise

    def _running(self) -> bool:
        return (
            self._owner == os.getpid()
            and self._process is not None
            and self._process.poll() is None
        )

    def _start(self) -> None:
        self._forget()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = (
            f"import sys; sys.path[:] = {sys.path!r}; "
            f"from plugin.messages.sandbox import serve; serve({theirs.fileno()})"
        )
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", code],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                # Its own session: a Ctrl-C or a signal to the server's process group does not
                # reach it; it ends when this process closes its end of the control socket.
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._control, self._owner = ours, os.getpid()

    def _forget(self) -> None:
        if self._owner == os.getpid():
            if self._control is not None:
                self._control.close()
            if self._process is not None:
                try:
                    self._process.wait(5)  # it ends on its own once the control socket closes
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
        self._process, self._control, self._owner = None, None, 0

    def stop(self) -> None:
        with self._lock:
            self._forget()


_server = _RenderServer()
atexit.register(_server.stop)


def serve(control_fd: int) -> None:
    """The render server's loop: a child per socket received, then that child's exit status
    sent on the same socket. Ends when the serving process closes the control socket."""
    control = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wakeup fd is written
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: dict[int, int] = {}
    while True:
        try:
            ready, _, _ = select.select([control, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
        if control in ready:
            try:
                data, fds, _, _ = socket.recv_fds(control, 16, 4)
            except InterruptedError:
                continue
            if not data:
                return
            for fd in fds:
                try:
                    pid = os.fork()
                except OSError:
                    _report(fd, {"fork_failed": True})
                    continue
                if pid == 0:
                    code = 1
                    try:
                        control.close()
                        os.close(wake_r)
                        os.close(wake_w)
                        code = _child(fd)
                    finally:
                        os._exit(code)
                children[pid] = fd
        _reap(children)


def _reap(children: dict[int, int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = children.pop(pid, None)
        if fd is None:
            continue
        if os.WIFSIGNALED(status):
            _report(fd, {"signal": os.WTERMSIG(status)})
        else:
            _report(fd, {"code": os.waitstatus_to_exitcode(status)})


def _report(fd: int, status: dict[str, Any]) -> None:
    conn = Connection(fd)
    try:
        conn.send_bytes(_encode({"exit": status}))
    except OSError:
        pass  # the parent stopped waiting
    finally:
        conn.close()


# -- the child: one render ---------------------------------------------------------------------


class _Problem(Exception):
    pass


def _child(fd: int) -> int:
    """Set the limits, render the job read from ``fd``, send the result. The exit code."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGPROF, signal.SIGALRM):
        signal.signal(signum, signal.SIG_DFL)  # SIGPROF and SIGALRM end the process
    os.nice(CHILD_NICENESS)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (1, 2))  # whole seconds: the timer comes first
    limit = _address_space() + MEMORY_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.setitimer(signal.ITIMER_PROF, CPU_SECONDS)
    signal.alarm(int(WALL_SECONDS) + 1)
    conn = Connection(fd)
    try:
        job = json.loads(conn.recv_bytes(_MAX_MESSAGE))
        result = _render_job(conn, job)
        conn.send_bytes(_encode(result))
    except MemoryError:
        conn.send_bytes(_encode({"problem": memory_limit_message()}))
    except (EOFError, OSError):
        return 1  # the parent stopped waiting
    return 0


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _render_job(conn: Connection, job: dict[str, Any]) -> dict[str, Any]:
    env = environment(autoescape=job["format"] == "html")
    missing: list[str] = []
    answers: dict[str | int, dict[str, Any]] = {}

    def coupon(ref: Any) -> str:
        if isinstance(ref, bool) or not isinstance(ref, str | int):
            raise _Problem(f"coupon() takes a discount's code, name or id, not {ref!r}.")
        key: str | int = ref if isinstance(ref, int) else str(ref)
        if key not in answers:
            if len(answers) >= MAX_DISCOUNTS:
                raise _Problem(f"A message may name at most {MAX_DISCOUNTS} discounts.")
            if isinstance(key, str) and len(key) > _MAX_REF_LENGTH:
                raise _Problem("No discount has so long a code, name or id.")
            conn.send_bytes(_encode({"coupon": key}))
            answer = json.loads(conn.recv_bytes(_MAX_MESSAGE))
            answers[key] = answer if isinstance(answer, dict) else {}
        answer = answers[key]
        if isinstance(answer.get("code"), str):
            return str(answer["code"])
        if answer.get("missing"):
            if str(ref) not in missing:
                missing.append(str(ref))
            return ""
        raise _Problem(str(answer.get("unknown") or "No such discount."))

    try:
        compiled = env.from_string(job["template"])
    except TemplateSyntaxError as err:
        return {"problem": f"Line {err.lineno}: {err.message}"}
    except MemoryError:
        raise
    except RecursionError:
        return {"problem": "The template is nested too deeply."}
    except Exception as err:  # a template the compiler cannot take
        return {"problem": f"The template failed: {type(err).__name__}: {err}"}
    parts: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(customer=job["customer"], coupon=coupon):
            # Count characters first (cheap, and never fewer than bytes' worth / 4).
            size += (
                len(chunk)
                if len(chunk) > MAX_OUTPUT_BYTES
                else len(chunk.encode("utf-8", "surrogatepass"))
            )
            if size > MAX_OUTPUT_BYTES:
                return {"problem": output_limit_message()}
            parts.append(chunk)
    except (EOFError, OSError, MemoryError):
        raise
    except _Problem as err:
        return {"problem": str(err)}
    except SecurityError as err:
        return {"problem": f"Not allowed in a message: {err}"}
    except TemplateError as err:
        return {"problem": err.message or type(err).__name__}
    except Exception as err:  # the template's own mistake (1/0, "a" + 1, ...)
        return {"problem": f"The template failed: {type(err).__name__}: {err}"}
    if missing:
        return {"rendered": None, "missing": missing}
    return {"rendered": "".join(parts), "missing": []}
