"""`sam3rt serve` on the tiny random-weight test checkpoint, for the server checks in
scripts/ (soak.py, upload_memory.py): make the checkpoint, start the server on a free
loopback port, stop it with SIGTERM. Python's standard library only."""
import os
import re
import signal
import subprocess
import sys
import threading


def start(build, out, tool, serve_args):
    """Makes OUT/model (tests/server/tiny_config.json, seed 7) and starts `sam3rt serve` on
    it with SERVE_ARGS, its stderr in OUT/serve.log. Returns (process, port); exits naming
    TOOL if the CLI is missing or the server does not start. Run from the repository root."""
    exe = os.path.join(build, "sam3rt")
    if not os.access(exe, os.X_OK):
        sys.exit(f"{tool}: {exe} missing: run scripts/build.sh")
    os.makedirs(out, exist_ok=True)
    model = os.path.join(out, "model")
    subprocess.run([exe, "make-random-checkpoint", "--config", "tests/server/tiny_config.json", "--out", model,
                    "--seed", "7"], check=True, stdout=subprocess.DEVNULL)
    log = open(os.path.join(out, "serve.log"), "w")
    server = subprocess.Popen([exe, "serve", "--model", model, "--port", "0"] + serve_args,
                              stdout=subprocess.PIPE, stderr=log, text=True)
    port = None
    for line in server.stdout:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        server.wait()
        sys.exit(f"{tool}: the server did not start (see {out}/serve.log)")
    threading.Thread(target=server.stdout.read, daemon=True).start()  # drain its stdout
    return server, port


def stop(server):
    """SIGTERM, then the exit status (a string if it did not exit within 60 s)."""
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        return "hung on SIGTERM"
