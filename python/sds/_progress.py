"""A progress bar for training loops: tqdm where installed, else a line every 10 %."""
import contextlib
import sys


def _loss_text(bar, info):
    # Steps that read nothing back (StepInfo.logged False) keep the last logged loss.
    if info.get("logged", True):
        bar.loss = info["loss"]
    return "-" if bar.loss is None else f"{bar.loss:.4g}"


class _Lines:
    def __init__(self, total, initial):
        self.total, self.done, self.next = total, initial, 0.1
        self.loss = None

    def log(self, line):
        print(line, file=sys.stderr)

    def update(self, info):
        self.total = self.total or info["total_steps"]
        self.done = info["step"]
        loss = _loss_text(self, info)
        if self.total and self.done / self.total >= self.next - 1e-9:
            print(f"step {self.done}/{self.total} loss {loss}", file=sys.stderr)
            self.next += 0.1


class _Tqdm:
    def __init__(self, bar):
        self.bar = bar
        self.loss = None

    def log(self, line):
        self.bar.update(1)
        self.bar.write(line)

    def update(self, info):
        if self.bar.total is None:
            self.bar.total = info["total_steps"]
        self.bar.update(info["step"] - self.bar.n)
        shown = {"loss": _loss_text(self, info)}
        if "psnr" in info["metrics"]:
            shown["psnr"] = f"{info['metrics']['psnr']:.2f}"
        self.bar.set_postfix(shown, refresh=False)


class _Silent:
    def update(self, info):
        pass

    def log(self, line):
        pass


@contextlib.contextmanager
def progress_bar(total, initial=0, enabled=True, unit="step"):
    if not enabled:
        yield _Silent()
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        yield _Lines(total, initial)
        return
    with tqdm(total=total, initial=initial, unit=unit, dynamic_ncols=True) as bar:
        yield _Tqdm(bar)
