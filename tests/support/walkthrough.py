"""The proxy case both case walkthroughs run through the CLI: who signs each step, and with
which options (one place, so the two walkthroughs cannot drift apart); and the check that a
walkthrough in ``docs/walkthroughs/`` shows exactly the commands its test runs."""

from __future__ import annotations

from pathlib import Path

WALKTHROUGHS = Path(__file__).resolve().parents[2] / "docs" / "walkthroughs"

WINDOW = "320105-zwfw-01"  # 南京建邺 window
HOME = "510104-rs-01"  # 成都锦江 人社局
PICKUP = "320105-zwfw-02"  # the window again
HOLDER_ID = "11010519491231002X"

#: The steps after ``case receive`` up to the case's arrival back at the window:
#: (command, officer, options after the officer's).
STEPS_TO_PICKUP: tuple[tuple[str, str, list[str]], ...] = (
    ("check", WINDOW, []),
    ("mail", WINDOW, ["--leg", "window_to_home", "--tracking", "EMS1000000001CN"]),
    ("arrive", HOME, []),
    ("accept", HOME, []),
    ("decide", HOME, ["--result", "approved", "--basis", "社会保障卡管理办法"]),
    ("mail", HOME, ["--leg", "home_to_window", "--tracking", "EMS1000000002CN"]),
    ("arrive", PICKUP, []),
)


def receive_options(form: Path) -> list[str]:
    """``case receive``'s options after the officer's: 张三's proxy 社会保障卡 case."""
    return [
        "--item",
        "510000/2/23",
        "--channel",
        "proxy",
        "--home-body",
        "510104-RS",
        "--jurisdiction",
        "510104",
        "--applicant-name",
        "张三",
        "--applicant-id",
        HOLDER_ID,
        "--material",
        f"申请表={form}",
    ]


def documented_commands(docstring: str | None) -> str:
    """The command block of a walkthrough test's docstring: the lines from the indented
    ``T=.venv/bin/tongban`` up to the first line that is not indented, dedented by 4."""
    doc = docstring or ""
    lines = doc[doc.index("    T=.venv/bin/tongban") :].splitlines()
    block: list[str] = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        block.append(line.removeprefix("    "))
    return "\n".join(block).strip("\n")


def assert_walkthrough_shows(name: str, docstring: str | None) -> None:
    """``docs/walkthroughs/<name>`` holds the docstring's commands as one ``sh`` block."""
    text = (WALKTHROUGHS / name).read_text(encoding="utf-8")
    block = documented_commands(docstring)
    assert f"```sh\n{block}\n```" in text, f"docs/walkthroughs/{name} differs from:\n{block}"
