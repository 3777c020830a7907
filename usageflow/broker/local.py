"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) run from release jars.

The jars come from Maven Central through Maven (usageflow.broker.runtime); nothing else is
downloaded.

    data_dir/kafka/             server.properties, cluster.id, kraft/ (log dirs), broker.pid (JSON),
                                server.log (broker log), broker.out (JVM stdout/stderr), format.log
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from usageflow.broker.runtime import KAFKA_VERSION, broker_classpath, file_lock, find_java, log4j_config
from usageflow.errors import BrokerError

NODE_ID = 1
_HOST = "127.0.0.1"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerStatus:
    """What `LocalKafka.status()` reports; `data_dir` is the broker's own directory."""

    running: bool
    pid: int | None
    bootstrap: str
    version: str
    data_dir: Path


@dataclass(frozen=True)
class _PidRecord:
    pid: int
    port: int
    controller_port: int
    version: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
        return True


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _cluster_id() -> str:
    """A Kafka Uuid in its base64url form, never starting with '-' (as Uuid.randomUuid)."""
    while True:
        text = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _last_error(*files: Path) -> str:
    """The last ERROR/FATAL/exception line of the given logs, shortened, or ''."""
    for path in files:
        try:
            lines = path.read_text(errors="replace").splitlines()[-400:]
        except OSError:
            continue
        for line in reversed(lines):
            if re.search(r"\b(ERROR|FATAL)\b|Exception|Error:", line):
                return line.strip()[:300]
    return ""


class LocalKafka:
    """Start, stop and inspect the local broker that lives in `data_dir / "kafka"`."""

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        port: int = 9092,
        controller_port: int | None = None,
    ) -> None:
        self.port = port
        self.broker_dir = Path(data_dir).absolute() / "kafka"
        self.jar_dir = Path(cache_dir).absolute() / f"kafka-{KAFKA_VERSION}"
        self.log_file = self.broker_dir / "server.log"
        self._controller_port = controller_port
        self._out_file = self.broker_dir / "broker.out"
        self._props = self.broker_dir / "server.properties"
        self._pid_file = self.broker_dir / "broker.pid"
        self._kraft_dir = self.broker_dir / "kraft"
        self._exit_codes: dict[int, int] = {}

    @property
    def bootstrap(self) -> str:
        """`127.0.0.1:<port>` of the PLAINTEXT listener."""
        return f"{_HOST}:{self.port}"

    # -- public API ---------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> str:
        """Start the broker (or find it running) and return its bootstrap once it serves requests.

        `timeout` bounds the wait for the broker, not the one-time Maven download.
        """
        with file_lock(self.broker_dir / ".lock"):
            record = self._running_record()
            if record is not None:
                if record.port != self.port:
                    raise BrokerError(
                        f"the broker of {self.broker_dir} is already running on port "
                        f"{record.port}, not {self.port}; stop it first"
                    )
                self._wait_ready(record.pid, time.monotonic() + timeout, timeout)
                return self.bootstrap
            java = find_java()
            classpath = broker_classpath(self.jar_dir)
            log4j = log4j_config(self.jar_dir)
            controller_port = self._pick_controller_port()
            for what, port in (("broker", self.port), ("controller", controller_port)):
                if not _port_free(port):
                    raise BrokerError(
                        f"{what} port {port} on {_HOST} is already in use by another program "
                        f"(not the usageflow broker of {self.broker_dir}); free it or pick "
                        "another port"
                    )
            self._write_properties(controller_port)
            self._format(java, classpath, log4j)
            pid = self._spawn(java, classpath, log4j)
            self._pid_file.write_text(
                json.dumps(
                    {
                        "pid": pid,
                        "port": self.port,
                        "controller_port": controller_port,
                        "version": KAFKA_VERSION,
                    }
                )
                + "\n"
            )
            try:
                self._wait_ready(pid, time.monotonic() + timeout, timeout)
            except BaseException:
                self._terminate(pid, 10.0)
                self._pid_file.unlink(missing_ok=True)
                raise
            log.info("Kafka %s broker up at %s (pid %d)", KAFKA_VERSION, self.bootstrap, pid)
            return self.bootstrap

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the broker, SIGKILL it after `timeout`; True if a broker was stopped."""
        if not self.broker_dir.exists():
            return False
        with file_lock(self.broker_dir / ".lock"):
            record = self._running_record()
            if record is None:
                return False
            self._terminate(record.pid, timeout)
            self._pid_file.unlink(missing_ok=True)
            return True

    def status(self) -> BrokerStatus:
        """Whether this data dir's broker runs, found through its pid file (any process)."""
        record = self._running_record()
        if record is None:
            return BrokerStatus(False, None, self.bootstrap, KAFKA_VERSION, self.broker_dir)
        return BrokerStatus(True, record.pid, f"{_HOST}:{record.port}", record.version, self.broker_dir)

    # -- processes ----------------------------------------------------------------------------

    def _child_state(self, pid: int) -> bool | None:
        """None if `pid` is not our child, else whether it still runs (an exited one is reaped)."""
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done != pid:
            return True
        self._exit_codes[pid] = os.waitstatus_to_exitcode(status)
        return False

    def _alive(self, pid: int) -> bool:
        """`pid` runs and is this data dir's broker (not a zombie, not a reused pid).

        A JVM's main thread may exit first: /proc then shows it as a zombie with an empty
        command line while the other threads still run, so that counts as alive.
        """
        child = self._child_state(pid)
        if child is False:
            return False
        proc = Path("/proc") / str(pid)
        if not Path("/proc/self").exists():
            if child:
                return True
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        try:
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            threads = len(os.listdir(proc / "task"))
        except (OSError, IndexError):
            return False
        if argv == [b""]:  # exiting: the leader thread is gone, its memory map with it
            return bool(child) or state not in {"Z", "X"} or threads > 1
        return b"kafka.Kafka" in argv and str(self._props).encode() in argv

    def _running_record(self) -> _PidRecord | None:
        """The pid file's record if its broker is alive; a stale pid file is removed."""
        try:
            raw = json.loads(self._pid_file.read_text())
            record = _PidRecord(int(raw["pid"]), int(raw["port"]), int(raw["controller_port"]), str(raw["version"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("removing unreadable pid file %s", self._pid_file)
            self._pid_file.unlink(missing_ok=True)
            return None
        if self._alive(record.pid):
            return record
        log.info("removing stale pid file %s (pid %d is gone)", self._pid_file, record.pid)
        self._pid_file.unlink(missing_ok=True)
        return None

    def _terminate(self, pid: int, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not self._alive(pid):
                    return
                time.sleep(0.05)
            if sig == signal.SIGTERM:
                log.warning("Kafka broker pid %d ignored SIGTERM for %.0fs; killing it", pid, wait)
        raise BrokerError(f"Kafka broker pid {pid} survived SIGKILL; see {self.log_file}")

    def _spawn(self, java: str, classpath: str, log4j: Path) -> int:
        argv = [
            java,
            "-Xms256m",
            "-Xmx512m",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.broker_dir}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self._props),
        ]
        with self._out_file.open("a") as out:
            out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting Kafka {KAFKA_VERSION}\n")
        try:
            # posix_spawn, not Popen: the broker outlives us (its own session, so the caller's
            # Ctrl-C does not reach it) and no Popen object warns about a running child.
            return os.posix_spawn(
                java,
                argv,
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (
                        os.POSIX_SPAWN_OPEN,
                        1,
                        str(self._out_file),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                        0o644,
                    ),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,
                setsigmask=[],
                setsigdef=[signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGHUP],
            )
        except OSError as exc:
            raise BrokerError(f"could not launch {java}: {exc}; see {self._out_file}") from exc

    def _wait_ready(self, pid: int, deadline: float, timeout: float) -> None:
        """Return once a probe topic can be created and deleted; raise if the broker dies."""
        while True:
            if not self._alive(pid):
                code = self._exit_codes.get(pid)
                how = f" with code {code}" if code is not None else ""
                reason = _last_error(self.log_file, self._out_file)
                reason = f": {reason}" if reason else ""
                raise BrokerError(
                    f"Kafka broker exited{how} during startup{reason}; see {self.log_file} and {self._out_file}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(
                    f"Kafka broker did not become ready on {self.bootstrap} within {timeout:.0f}s; see {self.log_file}"
                )
            if _port_answers(self.port) and self._probe(min(remaining, 15.0)):
                return
            time.sleep(0.25)

    def _probe(self, timeout: float) -> bool:
        """Create and delete a one-partition topic with a confluent-kafka AdminClient."""
        from confluent_kafka.admin import AdminClient, NewTopic  # slow import: only when probing

        admin = AdminClient(
            {
                "bootstrap.servers": self.bootstrap,
                "socket.timeout.ms": max(1000, int(timeout * 1000)),
            },
            logger=logging.getLogger(f"{__name__}.probe"),
        )
        topic = f"usageflow-probe-{secrets.token_hex(4)}"
        try:
            created = admin.create_topics(
                [NewTopic(topic, num_partitions=1, replication_factor=1)],
                operation_timeout=timeout,
                request_timeout=timeout,
            )
            created[topic].result(timeout=timeout)
            deleted = admin.delete_topics([topic], operation_timeout=timeout, request_timeout=timeout)
            deleted[topic].result(timeout=timeout)
        except Exception as exc:  # broker still starting: controller not ready, timeouts, ...
            log.debug("broker probe failed: %s", exc)
            return False
        return True

    # -- files --------------------------------------------------------------------------------

    def _pick_controller_port(self) -> int:
        if self._controller_port is not None:
            if self._controller_port == self.port:
                raise BrokerError(f"broker and controller ports must differ (both {self.port})")
            return self._controller_port
        with contextlib.suppress(OSError):
            found = re.search(r"^controller\.quorum\.voters=\d+@[^:]+:(\d+)", self._props.read_text(), re.M)
            if found and int(found.group(1)) != self.port and _port_free(int(found.group(1))):
                return int(found.group(1))
        while (port := free_port()) == self.port:
            continue
        return port

    def _write_properties(self, controller_port: int) -> None:
        # A static voter set (controller.quorum.voters) rather than --standalone: the controller
        # port may then change between runs without touching the formatted metadata log.
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": f"{NODE_ID}@{_HOST}:{controller_port}",
            "listeners": f"PLAINTEXT://{_HOST}:{self.port},CONTROLLER://{_HOST}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{_HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._kraft_dir),
            "num.partitions": "4",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "true",  # Faust creates its internal topics
            "delete.topic.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "720",
        }
        lines = ["# Written by usageflow on every start; edits are overwritten."]
        lines += [f"{key}={value}" for key, value in settings.items()]
        self._props.write_text("\n".join(lines) + "\n")

    def _format(self, java: str, classpath: str, log4j: Path) -> None:
        """Format the KRaft log dir once, with a cluster id generated once and kept."""
        if (self._kraft_dir / "meta.properties").exists():
            return
        id_file = self.broker_dir / "cluster.id"
        cluster_id = id_file.read_text().strip() if id_file.exists() else ""
        if not cluster_id:
            cluster_id = _cluster_id()
            id_file.write_text(cluster_id + "\n")
        format_log = self.broker_dir / "format.log"
        with format_log.open("w") as out:
            done = subprocess.run(
                [
                    java,
                    "-Xmx256m",
                    f"-Dlog4j2.configurationFile={log4j}",
                    f"-Dkafka.logs.dir={self.broker_dir}",
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    cluster_id,
                    "--config",
                    str(self._props),
                    "--ignore-formatted",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        if done.returncode != 0:
            raise BrokerError(
                f"formatting Kafka storage in {self._kraft_dir} failed (exit {done.returncode}); see {format_log}"
            )
