"""What every check shares: calling the learner's code, comparing it with the reference on inputs from
small to large, recognising the usual mistakes, and writing messages that teach."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, cast

import torch
from torch import nn

NOT_DONE = "not done yet"  # the stable phrase a skeleton prints (the saved notebooks show it)
# Frames of these folders that run before the learner's code are not the learner's to read
LIBRARY_FOLDERS = (str(Path(__file__).resolve().parents[1]), str(Path(torch.__file__).resolve().parent))


class ExerciseError(AssertionError):
    """A wrong answer. The message names the mistake, shows the smallest input where it shows, and hints.

    Where the learner's code raised, `learner_error` is that error; the traceback then holds the
    learner's own frames only, and Jupyter shows them, then the message (_render_traceback_).
    """

    def __init__(self, message: str, learner_error: BaseException | None = None):
        super().__init__(message)
        self.learner_error = learner_error

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in place of a traceback: the learner's own frames, if their code raised,
        then this message, without the frames of the check."""
        lines = learner_traceback(self.learner_error) if self.learner_error is not None else []
        return [*lines, f"{type(self).__name__}: {self}"]


def own_frames(error: BaseException | None) -> TracebackType | None:
    """The traceback of `error` from the first frame outside the library (and torch) on: the frames of
    the learner's code, and what it called."""
    tb = error.__traceback__ if error is not None else None
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(LIBRARY_FOLDERS):
        tb = tb.tb_next
    return tb


def learner_traceback(error: BaseException) -> list[str]:
    """The learner's error with its own frames, as IPython formats a traceback (plain text elsewhere)."""
    tb = own_frames(error)
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return list(shell.InteractiveTB.structured_traceback(type(error), error, tb))
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip("\n").split("\n")


class NotDone(Exception):
    """The learner's code is still the skeleton: it raises NotImplementedError or returns None / `...`."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class Raised(Exception):
    """The learner's code raised an error of its own (not NotImplementedError)."""

    def __init__(self, error: BaseException):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def call(fn: Callable, *args: Any) -> Any:
    """Run the learner's code: a skeleton becomes NotDone, any other error becomes Raised."""
    try:
        out = fn(*args)
    except NotImplementedError:
        raise NotDone("raises NotImplementedError") from None
    except Exception as error:
        raise Raised(error) from error
    if out is None:
        raise NotDone("returns None (if you wrote it, is a `return` missing?)")
    if out is Ellipsis:
        raise NotDone("returns `...`")
    return out


def exercise(title: str) -> Callable[[Callable[[Any], str]], Callable[[Any], None]]:
    """Turn `check(answer) -> what it verified` into the public check: prints one line, or raises.

    The check runs on its own seeded random state (the notebook's is left as it was) and without
    autograd; a skeleton prints a "not done yet" line instead of raising, so a notebook runs through.
    """

    def decorate(check: Callable[[Any], str]) -> Callable[[Any], None]:
        @functools.wraps(check)
        def run(answer: Any) -> None:
            __tracebackhide__ = True  # noqa: F841  (IPython leaves this frame out of a traceback)
            failure = None
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(0)
                try:
                    verified = check(answer)
                except NotDone as skeleton:
                    print(
                        f"{title}: {NOT_DONE} (your code {skeleton.why}). Write it, then run this cell again."
                    )
                    return
                except Raised as raised:
                    headline = f"your code raised {raised}: the traceback above shows where"
                    failure = ExerciseError(report(title, headline, [], RAISED_HINT), raised.error)
                except ExerciseError as error:
                    failure = error
            if failure is not None:
                raise trimmed(failure) from None  # one error, without the check's frames or a chain
            print(f"{title}: correct. {verified}")

        run.title = title  # type: ignore[attr-defined]
        return run

    return decorate


RAISED_HINT = "fix the line where your code raised; run the cell again"


def trimmed(failure: ExerciseError) -> ExerciseError:
    """The error to raise from a check: where the learner's code raised (the error a check raised
    `from`), with the learner's own frames as its traceback; otherwise with none of the check's."""
    if failure.learner_error is None and failure.__cause__ is not None:
        failure.learner_error = failure.__cause__
    return failure.with_traceback(own_frames(failure.learner_error))


def report(title: str, headline: str, evidence: Sequence[str], hint: str) -> str:
    """The message of an ExerciseError: what is wrong, the evidence, then a hint (never the answer)."""
    return "\n".join([f"{title}: {headline}", *evidence, f"Hint: {hint}"])


# ---- showing tensors readably ----------------------------------------------------------------------

MAX_COLUMNS = 12
MAX_ROWS = 10
MAX_MATRICES = 4


def _number(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return f"{value!s:>6}"
    if isinstance(value, int):
        return f"{value:4d}"
    if value != value:
        return "    nan"
    if value in (float("inf"), float("-inf")):
        return f"{'-' if value < 0 else ''}inf".rjust(7)
    return f"{value:7.3f}"


def _matrix(t: torch.Tensor, indent: str = "  ") -> list[str]:
    if t.dim() == 0:
        return [indent + _number(t.item())]
    rows = t[None] if t.dim() == 1 else t
    lines = []
    for row in rows[:MAX_ROWS].tolist():
        cells = [_number(v) for v in row[:MAX_COLUMNS]]
        lines.append(indent + " ".join(cells) + (" …" if len(row) > MAX_COLUMNS else ""))
    if rows.size(0) > MAX_ROWS:
        lines.append(indent + f"… ({rows.size(0)} rows)")
    return lines


def show(name: str, value: Any) -> list[str]:
    """`name (shape):` then its numbers, a matrix at a time; leading dims of size 1 are dropped."""
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return [line for i, v in enumerate(value) for line in show(f"{name}[{i}]", v)]
    if not isinstance(value, torch.Tensor):
        return [f"{name}: {value!r}"]
    t = value.detach().cpu()
    header = f"{name} {tuple(t.shape)}"
    while t.dim() > 2 and t.size(0) == 1:
        t = t[0]
    if t.dim() <= 2:
        return [header + ":", *_matrix(t)]
    lines = [header + ":"]
    leading = t.shape[:-2]
    for n, index in enumerate(
        torch.cartesian_prod(*[torch.arange(s) for s in leading]).reshape(-1, len(leading))
    ):
        if n == MAX_MATRICES:
            lines.append(f"  … ({leading.numel()} matrices)")
            break
        at = tuple(index.tolist())
        lines.append(f"  [{', '.join(map(str, at))}, :, :]")
        lines.extend(_matrix(t[at], indent="    "))
    return lines


# ---- comparing -----------------------------------------------------------------------------------------


def as_tensor(value: Any) -> torch.Tensor | None:
    """A tensor, or a number/list made one; None where the value cannot be a tensor."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def tensor(value: Any) -> torch.Tensor:
    """as_tensor, for code that needs a tensor: a TypeError where the value cannot be one."""
    t = as_tensor(value)
    if t is None:
        raise TypeError(f"a {type(value).__name__} cannot be a tensor")
    return t


def sublayer(module: nn.Module, name: str) -> nn.Module:
    """module.<name> as a Module (torch types a Module's attributes as Tensor | Module)."""
    return cast(nn.Module, getattr(module, name))


def same(want: torch.Tensor, got: Any, atol: float = 1e-5, rtol: float = 1e-4, nan_ok: bool = False) -> bool:
    """Same shape and close values (NaN equal to NaN only where nan_ok, for recognising mistakes)."""
    got = as_tensor(got)
    if got is None or got.shape != want.shape:
        return False
    if got.dtype == torch.bool or want.dtype == torch.bool:
        return torch.equal(got.bool(), want.bool())
    return torch.allclose(got.double(), want.double(), rtol=rtol, atol=atol, equal_nan=nan_ok)


def first_difference(want: torch.Tensor, got: torch.Tensor) -> tuple[tuple[int, ...], float, float]:
    """The index where the two differ most (NaN counts as the largest difference), and both values."""
    diff = (got.double() - want.double()).abs().nan_to_num(nan=float("inf"))
    flat = int(diff.flatten().argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), want.shape))
    return index, want[index].item(), got[index].item()


# ---- cases and mistakes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One input for the learner's code: named arguments in call order, and what to print of them."""

    inputs: dict[str, Any]
    shown: tuple[str, ...] | None = None  # the inputs worth printing; all of them by default

    @property
    def args(self) -> tuple[Any, ...]:
        return tuple(self.inputs.values())

    def fresh(self) -> Case:
        """The same case with its tensors copied: code that changes its inputs in place changes only these."""
        inputs = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in self.inputs.items()}
        return Case(inputs, self.shown)

    def evidence(self) -> list[str]:
        names = self.shown if self.shown is not None else tuple(self.inputs)
        lines = ["The smallest input where it shows:"]
        for name in names:
            lines.extend(show(name, self.inputs[name]))
        return lines


Run = Callable[[Case], Any]  # the learner's code on a case (Raised / NotDone pass through)
Want = torch.Tensor | tuple[torch.Tensor, ...]  # the reference's output; a tuple where `output` has names


@dataclass(frozen=True)
class Mistake:
    """A usual mistake: how to recognise it on the first case where the answer differs, and a hint.

    `matches(case, got, run)` gets the learner's output (or, with on_error, the error it raised) and
    may run the learner's code again on other inputs. `detail` adds lines of evidence.
    """

    headline: str
    hint: str
    matches: Callable[[Case, Any, Run], bool]
    on_error: bool = False
    detail: Callable[[Case, Any, Run], list[str]] | None = None

    def recognises(self, case: Case, got: Any, run: Run) -> bool:
        try:
            return bool(self.matches(case.fresh(), got, run))
        except Exception:
            return False  # a recogniser that cannot even run on this answer does not match it

    def details(self, case: Case, got: Any, run: Run) -> list[str]:
        if self.detail is None:
            return []
        try:
            return self.detail(case.fresh(), got, run)
        except Exception:
            return []


def gives(headline: str, hint: str, wrong: Callable[..., Any], **kw: Any) -> Mistake:
    """The mistake whose output is `wrong(*case.args)`: recognised when the learner's output matches it."""
    return Mistake(
        headline, hint, lambda case, got, run: same(tensor(wrong(*case.args)), got, nan_ok=True), **kw
    )


def raises(headline: str, hint: str, test: Callable[[Case, BaseException, Run], bool], **kw: Any) -> Mistake:
    """A mistake recognised by the error the learner's code raises on a case."""
    return Mistake(headline, hint, test, on_error=True, **kw)


def raises_like(headline: str, hint: str, wrong: Callable[..., Any], **kw: Any) -> Mistake:
    """The mistake recognised by raising, on the same input, the very error the learner's code raised."""

    def test(case: Case, error: BaseException, run: Run) -> bool:
        try:
            wrong(*case.args)
        except Exception as expected:
            return type(expected) is type(error) and str(expected) == str(error)
        return False

    return raises(headline, hint, test, **kw)


@dataclass
class Comparison:
    """The learner's code against the reference on cases from small to large, with the known mistakes."""

    title: str
    output: str | tuple[str, ...]  # the output's name in messages, e.g. "weights", or ("x", "y")
    run: Run
    reference: Callable[[Case], Want]
    mistakes: Sequence[Mistake] = field(default_factory=list)
    hint: str = "compare your code with the task above, one step at a time"
    equal: Callable[[Any, Any], bool] = same  # (want, got); `same` compares one tensor

    def check(self, cases: Sequence[Case]) -> None:
        for case in cases:
            want = self.reference(case.fresh())
            try:
                got = self.run(case.fresh())
            except Raised as raised:
                self._explain_error(case, raised)
            if not self.equal(want, got):
                self._explain(case, want, got)

    def _explain_error(self, case: Case, raised: Raised) -> NoReturn:
        for mistake in self.mistakes:
            if mistake.on_error and mistake.recognises(case, raised.error, self.run):
                evidence = [
                    *case.evidence(),
                    f"your code raised {raised}",
                    *mistake.details(case, raised, self.run),
                ]
                raise ExerciseError(
                    report(self.title, mistake.headline, evidence, mistake.hint)
                ) from raised.error
        evidence = case.evidence()
        headline = f"your code raised {raised}: the traceback above shows where"
        raise ExerciseError(report(self.title, headline, evidence, self.hint)) from raised.error

    def _explain(self, case: Case, want: Want, got: Any) -> NoReturn:
        outputs = [*self._show("expected", want), *self._show("your", got)]
        for mistake in self.mistakes:
            if not mistake.on_error and mistake.recognises(case, got, self.run):
                evidence = [*case.evidence(), *outputs, *mistake.details(case, got, self.run)]
                raise ExerciseError(report(self.title, mistake.headline, evidence, mistake.hint))
        evidence = [*case.evidence(), *outputs]
        raise ExerciseError(report(self.title, self._unrecognised(want, got), evidence, self.hint))

    def _show(self, whose: str, value: Any) -> list[str]:
        if isinstance(self.output, str):
            return show(f"{whose} {self.output}", value)
        if isinstance(value, (tuple, list)) and len(value) == len(self.output):
            return [
                line
                for name, v in zip(self.output, value, strict=True)
                for line in show(f"{whose} {name}", v)
            ]
        return show(f"{whose} ({', '.join(self.output)})", value)

    def _unrecognised(self, want: Want, got: Any) -> str:
        """Not a mistake it knows: say what differs and where."""
        if not isinstance(self.output, str):
            return f"your ({', '.join(self.output)}) differ from the reference"
        assert isinstance(want, torch.Tensor)  # one output name, one tensor
        tensor = as_tensor(got)
        if tensor is None:
            return f"your code returned a {type(got).__name__}, expected a tensor"
        if tensor.shape != want.shape:
            return f"your {self.output}: shape {tuple(tensor.shape)}, expected {tuple(want.shape)}"
        index, w, g = first_difference(want, tensor)
        return f"your {self.output} and the reference differ at index {index}: expected {w:.4f}, got {g:.4f}"
