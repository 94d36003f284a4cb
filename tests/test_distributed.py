"""Data-parallel training on the CPU: two gloo processes on 127.0.0.1 take the steps of one process.

The two-rank runs go through torchrun in a subprocess of their own session, bounded in time and
killed with every rank left behind when they end. Errors that come before a process group exists
are checked in this process, with a faked torchrun environment.
"""

import contextlib
import dataclasses
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import attention_playground
from attention_playground import (
    ConfigError,
    ExtendedGPT,
    TrainConfig,
    get_preset,
    learning_rate_at,
    load_checkpoint,
)
from attention_playground.errors import DistributedError
from attention_playground.nn.sampling import sample_text
from attention_playground.tools.cli import main
from attention_playground.training.runtime import distributed as ddp
from attention_playground.training.trainer import Trainer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups of POSIX sessions")

HERE = Path(__file__).resolve().parent
STEPS = 20
# Measured on 2 CPU cores (torch 2.13, one thread a process): over the 20 step losses, 2 ranks and
# 1 process differ by at most 2.4e-7, and so do 1 process with grad_accum_steps=2 and without (2 ranks
# and accumulation agree exactly); the evaluations agree exactly. That is float rounding: sums taken in
# another order. 1e-5 leaves a margin of 40x; half the batch differs by 1e-2 and more.
TOLERANCE = 1e-5
TIMEOUT = 180  # seconds for one torchrun launch, startup included


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_env() -> dict[str, str]:
    """This environment, with this package importable, one thread per rank and no torchrun variables."""
    env = {k: v for k, v in os.environ.items() if k not in (*ddp.TORCHRUN_VARIABLES, "LOCAL_WORLD_SIZE")}
    src = str(Path(attention_playground.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"  # what torchrun sets anyway: 2 ranks on 2 cores
    return env


def run_bounded(args: list[str], timeout: float = TIMEOUT, **popen) -> subprocess.CompletedProcess:
    """Run `args` in a session of its own; past `timeout`, or when it ends, kill whatever is left of it."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=launch_env(),
        start_new_session=True, **popen,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(args)} ran past {timeout} s; stderr ends:\n{err[-3000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # a rank that outlived torchrun
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def torchrun_command(*args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", *args]  # fmt: skip


def torchrun(*args: str, nproc: int = 2, **popen) -> subprocess.CompletedProcess:
    return run_bounded(torchrun_command(*args, nproc=nproc), **popen)


CLI_TINY = ["train", "--preset", "tiny", "--no-progress"]


def tiny_config(steps: int = STEPS, **changes) -> TrainConfig:
    """What tests/ddp_worker.py trains: the tiny preset, evaluated every 10 steps."""
    changes = {"max_iters": steps, "eval_interval": 10, "device": "cpu", **changes}
    return dataclasses.replace(get_preset("tiny").train, **changes)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread here too, as each rank has: two threads on 2 busy cores can run 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def exited_ok(result: subprocess.CompletedProcess, finished: bool) -> bool:
    """Exit code 0, or torch's own abort at interpreter exit after the run finished: twice in CI
    a rank died with C++'s "terminate called without an active exception" once its work
    was done and the group destroyed (Gloo's threads at finalization; see pytorch/pytorch#179291)."""
    return result.returncode == 0 or (
        finished and "terminate called without an active exception" in result.stderr
    )


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> dict:
    """tests/ddp_worker.py under torchrun, 2 ranks: what each saw, and where its checkpoint is."""
    out = tmp_path_factory.mktemp("ddp")
    began = time.perf_counter()
    result = torchrun(str(HERE / "ddp_worker.py"), str(out), str(STEPS))
    written = all((out / f"rank{r}.json").exists() for r in range(2))  # each rank's last act, group gone
    assert exited_ok(result, finished=written), result.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    return {"out": out, "ranks": ranks, "wall": time.perf_counter() - began}


def train_one_process(shakespeare_splits, config: TrainConfig) -> Trainer:
    torch.manual_seed(config.seed)
    trainer = Trainer(ExtendedGPT(get_preset("tiny").model_config(65)), shakespeare_splits, config)
    trainer.run()
    return trainer


@pytest.fixture(scope="module")
def one_process(shakespeare_splits) -> Trainer:
    return train_one_process(shakespeare_splits, tiny_config())


def max_difference(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_two_ranks_take_the_steps_of_one_process(two_ranks, one_process):
    rank0, rank1 = two_ranks["ranks"]
    assert (rank0["world_size"], rank0["backend"], rank1["rank"]) == (2, "gloo", 1)
    history = one_process.history
    assert max_difference(rank0["step_losses"], history.step_losses) < TOLERANCE
    assert rank1["step_losses"] == rank0["step_losses"], "every rank reports the global batch's loss"
    assert rank0["eval_steps"] == history.eval_steps == [9, 19]
    assert max_difference(rank0["val_loss"], history.val_loss) < TOLERANCE, "evaluation shared, summed"
    assert max_difference(rank0["train_loss"], history.train_loss) < TOLERANCE
    assert rank0["learning_rates"] == history.learning_rates
    assert rank0["tokens_seen"] == history.tokens_seen == STEPS * 16 * 32, "the global batch's tokens"
    assert rank1["weights"] == rank0["weights"], "DDP keeps the ranks' weights equal"
    assert history.step_losses[-1] < history.step_losses[0] - 0.5, "it learns"


def test_gradient_accumulation_takes_the_steps_of_one_batch(shakespeare_splits, one_process):
    accumulated = train_one_process(shakespeare_splits, tiny_config(grad_accum_steps=2)).history
    assert max_difference(accumulated.step_losses, one_process.history.step_losses) < TOLERANCE
    assert max_difference(accumulated.val_loss, one_process.history.val_loss) < TOLERANCE
    assert accumulated.tokens_seen == one_process.history.tokens_seen
    halves = train_one_process(shakespeare_splits, tiny_config(batch_size=8)).history
    assert max_difference(halves.step_losses, one_process.history.step_losses) > 1e-2, "the test can fail"


def test_the_checkpoint_loads_in_one_process_and_samples_as_rank_0(two_ranks, char_tokenizer):
    from ddp_worker import SAMPLE_TOKENS

    checkpoint = load_checkpoint(two_ranks["out"] / "ckpt.pt")
    assert checkpoint.step == STEPS - 1 and checkpoint.train_config == tiny_config()
    text = sample_text(checkpoint.model, checkpoint.tokenizer, "\n", SAMPLE_TOKENS, 0.8, None, 1)
    assert text == two_ranks["ranks"][0]["sample"] and len(text) == SAMPLE_TOKENS + 1


def test_resuming_under_torchrun_continues_the_steps_and_the_schedule(two_ranks):
    longer = tiny_config(STEPS + 10)
    for rank in two_ranks["ranks"]:
        assert (rank["resumed_at"], rank["resumed_step"]) == (STEPS, STEPS + 10)
        expected = [learning_rate_at(step, longer) for step in range(STEPS, STEPS + 10)]
        assert rank["resumed_learning_rates"] == expected


def test_the_cli_resumes_under_torchrun_and_only_rank_0_prints(two_ranks, tmp_path):
    (tmp_path / "ckpt.pt").write_bytes((two_ranks["out"] / "ckpt.pt").read_bytes())
    installed = Path(sys.executable).with_name("attention-playground")  # the console script
    program = ["--no-python", str(installed)] if installed.is_file() else ["-m", "attention_playground"]
    args = ["--resume", "--change-settings", "--max-iters", str(STEPS + 10), "--out", str(tmp_path)]
    args += ["--sample-tokens", "30"]
    result = torchrun(*program, *CLI_TINY, "--device", "cpu", *args)
    assert exited_ok(result, finished="--- sample (30 tokens" in result.stdout), result.stderr[-3000:]
    assert result.stdout.count(f"resuming {tmp_path / 'ckpt.pt'} after step {STEPS} of {STEPS}") == 1
    assert result.stdout.count(f"step {STEPS + 10:5d}: train loss") == 1, "rank 0 alone prints"
    assert result.stdout.count("--- sample (30 tokens") == 1
    saved = load_checkpoint(tmp_path / "ckpt.pt")
    assert saved.step == STEPS + 9
    adam_steps = {float(state["step"]) for state in saved.optimizer_state["state"].values()}
    assert adam_steps == {STEPS + 10.0}, "10 more optimizer steps after the checkpoint's 20"
    cli_config = dataclasses.replace(get_preset("tiny").train, max_iters=STEPS + 10)
    assert saved.optimizer_state["param_groups"][0]["lr"] == learning_rate_at(STEPS + 9, cli_config)


def test_a_global_batch_that_does_not_divide_by_the_ranks_is_one_line(tmp_path):
    args = ["--batch-size", "15", "--max-iters", "2", "--out", str(tmp_path), "--device", "cpu"]
    result = torchrun("-m", "attention_playground", *CLI_TINY, *args)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("attention-playground train")]
    # one line from each rank that got to print it: torchrun stops the other rank once one has failed,
    # sometimes before its line is out (1 line in about 1 run of 20)
    assert len(ours) in (1, 2), result.stderr[-3000:]
    assert all("the global batch_size=15 does not divide by 2 rank(s)" in line for line in ours)
    assert "attention_playground/" not in result.stderr, "no traceback of ours (torchrun prints its own)"
    assert not (tmp_path / "ckpt.pt").exists()


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child, and so in torchrun's ranks: writes past `limit` bytes fail
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_rank_that_fails_says_why_and_the_others_leave_quietly(tmp_path):
    """Rank 0 alone writes the checkpoints: a full disk stops it at its first save, while rank 1
    waits for it in the next collective, which breaks when rank 0 leaves."""
    args = ["--max-iters", "4", "--sample-tokens", "0", "--out", str(tmp_path / "run"), "--device", "cpu"]
    result = torchrun("-m", "attention_playground", *CLI_TINY, *args, preexec_fn=_file_size_limit(200_000))
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("attention-playground train")]
    assert len(ours) == 1, result.stderr[-3000:]
    assert "error: could not save" in ours[0] and "the disk is full" in ours[0]
    assert "attention_playground/" not in result.stderr, "no traceback of ours (torchrun prints its own)"
    assert "Connection reset" not in result.stderr and "gloo" not in result.stderr, result.stderr[-3000:]


def test_sigterm_stops_every_rank_after_the_same_step_and_saves(tmp_path):
    """What a scheduler does: SIGTERM to torchrun, which passes it on to every rank."""
    out = tmp_path / "run"
    args = [*CLI_TINY, "--max-iters", "1000000", "--sample-tokens", "0", "--out", str(out), "--device", "cpu"]
    env = {**launch_env(), "PYTHONUNBUFFERED": "1"}  # rank 0's first line comes as it is printed
    command = torchrun_command("-m", "attention_playground", *args)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout.readline().startswith("tiny preset:"), "rank 0 is about to train"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    ours = [line for line in err.splitlines() if line.startswith("attention-playground train")]
    assert len(ours) == 1 and "terminated: saved the state after step " in ours[0], err[-3000:]
    step = int(ours[0].split("after step ")[1].split()[0])
    assert load_checkpoint(out / "last.pt").step == step - 1, "saved after the step both ranks stopped at"
    assert "attention_playground/" not in err, "no traceback of ours (torchrun prints its own)"


# --- Errors before any process group, in this process, with a faked torchrun environment


def fake_torchrun(monkeypatch, world_size: int = 1, **variables: str) -> None:
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": str(world_size), "LOCAL_WORLD_SIZE": str(world_size),
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), **variables}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def one_error_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not dist.is_initialized()
    return err


TRAIN = [*CLI_TINY, "--max-iters", "2", "--sample-tokens", "0"]


def test_a_half_set_torchrun_environment_is_one_line(monkeypatch, capsys, tmp_path):
    for name in (*ddp.TORCHRUN_VARIABLES, "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    err = one_error_line(capsys, [*TRAIN, "--out", str(tmp_path)])
    assert "a half-set torchrun environment: RANK, WORLD_SIZE set but LOCAL_RANK, MASTER_ADDR" in err
    assert not (tmp_path / "ckpt.pt").exists()


@pytest.mark.parametrize(("device", "backend"), [("cpu", "gloo"), ("cuda", "nccl")])
def test_a_backend_that_is_not_there_is_one_line(monkeypatch, capsys, tmp_path, device, backend):
    fake_torchrun(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU, as far as the check can tell
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(dist, f"is_{backend}_available", lambda: False)
    err = one_error_line(capsys, [*TRAIN, "--device", device, "--out", str(tmp_path)])
    assert f"the {backend} backend is not available in this PyTorch" in err


def test_fewer_gpus_than_ranks_is_one_line(monkeypatch, capsys, tmp_path):
    fake_torchrun(monkeypatch, world_size=2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    err = one_error_line(capsys, [*TRAIN, "--device", "cuda", "--out", str(tmp_path)])
    assert "--device cuda with 2 ranks on this machine needs as many GPUs, but 1 are visible" in err
    assert "--nproc_per_node=1" in err


def test_this_pytorch_without_a_gpu_is_told_so_too(monkeypatch, capsys, tmp_path):
    fake_torchrun(monkeypatch, world_size=2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = one_error_line(capsys, [*TRAIN, "--device", "cuda", "--out", str(tmp_path)])
    assert "needs as many GPUs, but 0 are visible" in err


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 must be below WORLD_SIZE=2"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' must be a whole number >= 1"),
    ],
)
def test_a_torchrun_environment_that_cannot_be_is_an_error(monkeypatch, variables, message):
    fake_torchrun(monkeypatch, **variables)
    with pytest.raises(DistributedError, match=message), ddp.process_group("cpu"):
        pass


# --- The process group, in this process (one rank)


def test_without_torchrun_there_is_no_process_group(monkeypatch):
    for name in ddp.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with ddp.process_group("cpu") as group:
        assert group is None and not dist.is_initialized()
        assert (ddp.rank(), ddp.world_size(), ddp.is_main_process()) == (0, 1, True)
        assert torch.equal(ddp.all_reduce_mean(torch.tensor([1.0, 3.0])), torch.tensor([1.0, 3.0]))
        assert ddp.any_rank(False) is False


@pytest.mark.parametrize("way_out", ["return", "error", "ctrl-c"])
def test_the_process_group_is_left_on_every_way_out(monkeypatch, way_out):
    fake_torchrun(monkeypatch)
    raised = {"return": None, "error": ConfigError, "ctrl-c": KeyboardInterrupt}[way_out]
    with pytest.raises(raised) if raised else contextlib.nullcontext():  # noqa: SIM117
        with ddp.process_group("cpu") as group:
            assert dist.is_initialized() and group.backend == "gloo" and group.is_main
            assert ddp.all_reduce_sum(torch.tensor([2.0])).item() == 2.0
            if raised:
                raise raised("stop")
    assert not dist.is_initialized()


def test_one_rank_of_ddp_with_accumulation_trains_as_without_a_group(monkeypatch, shakespeare_splits):
    config = tiny_config(3, grad_accum_steps=2, eval_interval=3)
    alone = train_one_process(shakespeare_splits, config).history
    fake_torchrun(monkeypatch)
    with ddp.process_group("cpu"):
        trainer = train_one_process(shakespeare_splits, config)
        assert type(trainer.compiled_model).__name__ == "DistributedDataParallel"
    assert max_difference(trainer.history.step_losses, alone.step_losses) < TOLERANCE
    assert trainer.history.val_loss == pytest.approx(alone.val_loss, abs=TOLERANCE)


def test_each_rank_takes_its_rows_of_the_global_batch():
    batch = torch.arange(12).reshape(6, 2)
    shares = [ddp.rank_share(batch, which, 3) for which in range(3)]
    assert torch.equal(torch.cat(shares), batch) and shares[1].tolist() == [[4, 5], [6, 7]]
    assert torch.equal(ddp.rank_share(batch), batch), "one process takes it all"


def test_the_global_batch_must_divide_by_ranks_and_micro_batches():
    ddp.check_batch_divides(16, 2, 2)
    with pytest.raises(
        ConfigError, match="batch_size=16 does not divide by 3 rank.s. x grad_accum_steps=2 = 6"
    ):
        ddp.check_batch_divides(16, 3, 2)
    with pytest.raises(ConfigError, match="batch_size=16 must be divisible by grad_accum_steps=3"):
        TrainConfig(batch_size=16, grad_accum_steps=3)
    with pytest.raises(ConfigError, match="grad_accum_steps=0 must be a whole number >= 1"):
        TrainConfig(grad_accum_steps=0)


@pytest.mark.cuda
def test_one_rank_over_nccl_trains_on_its_gpu(tmp_path):
    args = ["--max-iters", "20", "--out", str(tmp_path), "--device", "cuda", "--sample-tokens", "20"]
    result = torchrun("-m", "attention_playground", *CLI_TINY, *args, nproc=1)
    assert result.returncode == 0, result.stderr[-3000:]
    assert " on cuda:0 " in result.stdout and (tmp_path / "ckpt.pt").is_file()


def test_the_cli_accumulates_gradients_over_micro_batches(capsys, tmp_path):
    err = one_error_line(capsys, [*TRAIN, "--grad-accum-steps", "3", "--out", str(tmp_path)])
    assert "batch_size=16 must be divisible by grad_accum_steps=3" in err
    assert main([*TRAIN, "--grad-accum-steps", "4", "--device", "cpu", "--out", str(tmp_path)]) == 0
    assert load_checkpoint(tmp_path / "ckpt.pt").train_config.grad_accum_steps == 4
