"""The README's commands run as shown.

Every command line of the README's shell blocks (fenced blocks without a language and indented
blocks), and every inline ``camid ...``, ``make ...`` or ``torchrun ... camid ...`` span, is
checked against the real thing:

- ``camid`` lines name real subcommands and options (resolved on click's own parameters of
  ``flows.cli.cli``), with the positional arguments the command takes; concrete lines (no
  placeholders such as ``FILE...`` or ``[--json]``) are parsed by click itself, values included,
  and every ``--camera`` names a registry camera;
- the light commands (``cameras``, ``stats``, ``inspect``, ``signatures``) run, as written, in a
  fresh directory with the default data dir, ``inspect`` on a generated JPEG;
- every ``runs/...`` directory a line names is the one ``camid train`` of the README writes
  (``runs/<dataset>-<arch>-s<seed>``, computed by camid's own training resolver);
- every ``make`` target named exists in the Makefile; every ``CAMID_*``/``FLICKR_*`` variable
  exported is one camid reads; every ``prefect deployment run`` names a deployment ``camid
  serve`` offers, with parameters its flow takes.

A line whose program is none of these fails the test until it is classified here.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from flows.cli import cli, main
from tests import jpegs
from tests.conftest import REPO

README = REPO / "README.md"
MAKEFILE = REPO / "Makefile"
SOURCE_PACKAGES = ("pipeline", "db", "scrapers", "training", "flows")
# programs the README shows that are not camid's to check (their own tools, well documented)
EXTERNAL = {("prefect", "server"), ("dask", "scheduler"), ("dask", "worker")}
# commands cheap enough to run from the README as they are, on an empty data dir
RUNNABLE = {"cameras", "stats", "inspect", "signatures"}
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(\.\.\.)?")
BENCH_OUTPUT = re.compile(r"bench [\w-]+: ")


@dataclass(frozen=True)
class Line:
    """One command of the README: where it is and its words."""

    where: str  # "README.md:LINE"
    text: str
    inline: bool

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)


def _blocks(text: str) -> tuple[list[tuple[int, list[str]]], str]:
    """The shell blocks as (first line number, lines), and the text outside every code block."""
    blocks: list[tuple[int, list[str]]] = []
    prose: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            language, start = line[3:].strip(), i + 1
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            if language in ("", "sh", "bash", "shell"):
                blocks.append((start + 1, lines[start:i]))
            prose.extend([""] * (i - start + 2))
        elif line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            start = i
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                i += 1
            blocks.append((start + 1, [s[4:] for s in lines[start:i]]))
            prose.extend([""] * (i - start))
            continue
        else:
            prose.append(line)
        i += 1
    return blocks, "\n".join(prose)


def readme_commands() -> list[Line]:
    blocks, prose = _blocks(README.read_text(encoding="utf-8"))
    found: list[Line] = []
    for first, lines in blocks:
        for offset, raw in enumerate(lines):
            text = re.sub(r"(^|\s+)#.*$", "", raw).strip().removesuffix("&").strip()
            if text and not BENCH_OUTPUT.match(text):
                found.append(Line(f"README.md:{first + offset}", text, inline=False))
    for span in re.finditer(r"`([^`]+)`", prose):
        text = " ".join(span.group(1).split())
        number = prose.count("\n", 0, span.start()) + 1
        if text.startswith("torchrun ") and " camid " in text:
            text = "camid " + text.split(" camid ", 1)[1]
        if text.startswith(("camid ", "make ")):
            found.append(Line(f"README.md:{number}", text, inline=True))
    return found


COMMANDS = readme_commands()
CAMID_LINES = [c for c in COMMANDS if c.words[0] == "camid"]


def test_the_readme_shows_the_commands_this_test_checks() -> None:
    """The extraction finds what the README shows (a broken parser must not pass by finding none)."""
    texts = {c.text for c in COMMANDS}
    assert {"make demo", "make test", "make test-fast", "camid stats", "camid scrape wikimedia",
            "camid inspect FILE... [--json] [--header-only] [--learned]",
            "camid evaluate camid-data/runs/mine-densenet161-s0"} <= texts
    assert len(CAMID_LINES) > 30
    assert not any(c.text.startswith("bench ") for c in COMMANDS)
    blocks, _ = _blocks(README.read_text(encoding="utf-8"))
    assert not any("[cameras." in line for _, lines in blocks for line in lines)  # toml stays out


def test_every_line_is_a_program_this_test_knows() -> None:
    known = {"camid", "make", "export", "prefect"}
    unknown = [(c.where, c.text) for c in COMMANDS if c.words[0] not in known]
    assert not unknown


# ---- camid: subcommands, options, values ----------------------------------------------------


@dataclass
class Resolved:
    """A camid line resolved on click's parameters."""

    command: click.Command | None  # None: the group's own synopsis (``camid [...] COMMAND``)
    name: str | None
    global_words: list[str]
    words: list[str]  # after the subcommand
    positionals: list[str]
    options: dict[str, list[str]]  # option -> the values written after it
    synopsis: bool
    complete: bool = True  # every required argument is given


def _is_synopsis(words: list[str]) -> bool:
    return any("[" in w or "]" in w or "..." in w or w == "|" or PLACEHOLDER.fullmatch(w) for w in words)


def _takes_value(option: click.Option) -> bool:
    return not (option.is_flag or option.count)


def _option(command: click.Command, word: str, where: str) -> click.Option:
    name = word.split("=", 1)[0]
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    if name in ("--help", "-h"):
        return click.Option(["--help"], is_flag=True)
    raise AssertionError(f"{where}: camid {command.name or ''} has no option {name}")


def _walk(command: click.Command, words: list[str],
          where: str) -> tuple[list[str], dict[str, list[str]], int]:
    """Positionals and options of ``words`` for ``command``, up to its subcommand (for the group)."""
    positionals: list[str] = []
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-") and word != "-":
            option = _option(command, word, where)
            values = options.setdefault(option.opts[0], [])
            if "=" in word:
                values.append(word.split("=", 1)[1])
            elif _takes_value(option):
                assert i + 1 < len(words), f"{where}: {word} needs a value"
                i += 1
                values.append(words[i])
        elif isinstance(command, click.Group):
            return positionals, options, i
        else:
            positionals.append(word)
        i += 1
    return positionals, options, i


def resolve(line: Line) -> Resolved:
    words = line.words[1:]
    synopsis = _is_synopsis(words)
    if synopsis:  # brackets, alternatives and "..." are notation, not words
        words = [w for w in (w.strip("[]").removesuffix("...") for w in words) if w and w != "|"]
        words = [w for w in words if w != "options"]
    _, _, at = _walk(cli, words, line.where)
    global_words, rest = words[:at], words[at:]
    if not rest or rest[0] == "COMMAND":
        assert synopsis or not rest, f"{line.where}: no subcommand"
        return Resolved(None, None, global_words, [], [], {}, synopsis)
    name, after = rest[0], rest[1:]
    command = cli.commands.get(name)
    assert command is not None, f"{line.where}: camid has no command {name!r}"
    positionals, options, _ = _walk(command, after, line.where)
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if not any(a.nargs == -1 for a in arguments):
        assert len(positionals) <= len(arguments), f"{line.where}: camid {name} takes no {positionals}"
    complete = len(positionals) >= len([a for a in arguments if a.required])
    # a line in a block is a whole command; an inline span may only name one (`camid scrape`)
    cut_short = line.inline or "..." in line.words[1:]
    assert complete or cut_short, f"{line.where}: camid {name} needs its argument(s) {positionals}"
    return Resolved(command, name, global_words, after, positionals, options, synopsis, complete)


@pytest.mark.parametrize("line", CAMID_LINES, ids=[f"{c.where} {c.text}" for c in CAMID_LINES])
def test_camid_line_names_real_commands_and_options(line: Line, registry) -> None:
    resolved = resolve(line)
    for camera in resolved.options.get("--camera", []):
        if not PLACEHOLDER.fullmatch(camera):
            assert camera in registry, f"{line.where}: no camera {camera!r} in the registry"
    if resolved.synopsis or not resolved.complete:  # notation, or a mention such as `camid train`
        if resolved.command is not None:  # its help is reachable the way the line calls it
            args = [*resolved.global_words, resolved.name, "--help"]
            out = CliRunner().invoke(cli, args, prog_name="camid")
            assert out.exit_code == 0 and f"Usage: camid {resolved.name} " in out.output, out.output
        return
    # a concrete line: click itself parses it, values and their types included, without running it
    assert resolved.command is not None and resolved.name is not None
    context = cli.make_context("camid", [*resolved.global_words, resolved.name])
    resolved.command.make_context(resolved.name, list(resolved.words), parent=context)


# ---- run dirs ----------------------------------------------------------------------------------


def _train_run_dir(line: Line, root: Path) -> Path:
    """Where ``camid train`` as written on ``line`` puts its run: camid's own resolver decides, on
    a dataset manifest named as the line's dataset directory (run from ``root``)."""
    from flows.stages.configs import train_config
    from pipeline.manifest import write_manifest

    resolved = resolve(line)
    assert resolved.command is not None
    ctx = resolved.command.make_context("train", list(resolved.words))
    dataset = Path(ctx.params["manifest_dir"])
    assert dataset.parent.name == "datasets", f"{line.where}: a dataset lives in <data-dir>/datasets/NAME"
    write_manifest(root / dataset, dataset.name, ("a", "b"), (), (), registry_hash="r" * 64,
                   policy_hash="p" * 64, seed=0)
    given = {k: v for k, v in ctx.params.items()
             if k != "manifest_dir" and ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
    cfg = train_config(root / dataset, root / dataset.parent.parent, given)
    return Path(cfg.run_dir).relative_to(root)


def test_run_dirs_are_the_ones_camid_train_writes(tmp_path: Path) -> None:
    trains = [c for c in CAMID_LINES if c.words[1] == "train" and not c.inline and not _is_synopsis(c.words)]
    assert trains
    written = {_train_run_dir(c, tmp_path.resolve()) for c in trains}
    assert all(re.fullmatch(r".*runs/[\w.-]+-[\w.]+-s\d+", str(p)) for p in written), written
    named = [(c.where, Path(w)) for c in COMMANDS for w in c.words if "runs/" in w]
    assert named
    for where, path in named:
        assert path in written, f"{where}: {path} is not a run dir camid train writes ({written})"


# ---- the light commands, run as written --------------------------------------------------------


def _runs() -> list[tuple[str, list[str]]]:
    """Each runnable line as argv: a synopsis runs bare and with every optional flag it shows."""
    runs: dict[tuple[str, ...], str] = {}
    for line in CAMID_LINES:
        try:
            resolved = resolve(line)
        except AssertionError:  # test_camid_line_names_real_commands_and_options says why
            continue
        if resolved.name not in RUNNABLE or resolved.global_words or not resolved.complete:
            continue
        if not resolved.synopsis:
            runs.setdefault(tuple(line.words[1:]), line.where)
            continue
        optional = re.findall(r"\[([^\]]+)\]", line.text)
        flags = [o for o in optional if o.startswith("--") and " " not in o]
        required = re.sub(r"\[[^\]]+\]", "", line.text).split()[1:]
        with_values = [o.split() for o in optional if o.startswith("--") and len(o.split()) == 2]
        bare = [*required]
        full = [*required, *flags, *(w for pair in with_values for w in pair)]
        for argv in (bare, full):
            runs.setdefault(tuple(argv), line.where)
    return [(where, list(argv)) for argv, where in runs.items()]


SAMPLE = {"FILE...": "photo.jpg", "ID": "iPhone-6"}  # what a run puts for a placeholder


@pytest.mark.parametrize(("where", "argv"), _runs(), ids=[" ".join(a) for _, a in _runs()])
def test_light_command_runs_as_written(where: str, argv: list[str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    for name in ("CAMID_CATALOG", "CAMID_DATA_DIR", "CAMID_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(jpegs.make_jpeg((96, 64)))
    args = [SAMPLE.get(w, w) for w in argv]
    assert not any(PLACEHOLDER.fullmatch(w) for w in args), f"{where}: nothing to put for a placeholder"
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out = capsys.readouterr()
    assert exit_.value.code == 0, f"{where}: camid {' '.join(args)}: {out.err}"
    assert out.out.strip() and not out.err, out.err
    if "--json" in args:
        if args[0] == "inspect":  # JSON Lines, one per file
            docs = [json.loads(line) for line in out.out.splitlines()]
            assert [(d["path"], d["format"]) for d in docs] == [("photo.jpg", "jpeg")]
        else:
            assert isinstance(json.loads(out.out), dict)
    opens_catalog = args[0] in ("stats", "signatures") or "--learned" in args
    assert (tmp_path / "camid-data" / "catalog.db").is_file() == opens_catalog  # the default data dir


def test_the_light_commands_are_run() -> None:
    ran = {argv[0] for _, argv in _runs()}
    assert ran == RUNNABLE
    assert ["inspect", "FILE...", "--json", "--header-only", "--learned"] in [a for _, a in _runs()]


# ---- make, environment, Prefect deployments ----------------------------------------------------


def _make_targets() -> set[str]:
    text = MAKEFILE.read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.MULTILINE)}


def _before_redirect(words: list[str]) -> list[str]:
    """A command's own words: ``make demo > log`` names the target ``demo`` alone."""
    ends = [i for i, w in enumerate(words) if w in (">", ">>", "2>", "|", "&&", ";")]
    return words[:ends[0]] if ends else words


def test_make_targets_exist() -> None:
    targets = _make_targets()
    assert {"setup", "lint", "test"} <= targets  # the parser reads the Makefile
    named = [(c.where, w) for c in COMMANDS if c.words[0] == "make" for w in _before_redirect(c.words)[1:]
             if not w.startswith("-") and "=" not in w]
    assert named
    missing = [(where, target) for where, target in named if target not in targets]
    assert not missing


def _source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for package in SOURCE_PACKAGES
                     for p in sorted((REPO / package).rglob("*.py")))


def test_exported_variables_are_read_by_camid() -> None:
    exports = [(c.where, w.split("=", 1)[0]) for c in COMMANDS if c.words[0] == "export" for w in c.words[1:]]
    assert exports
    source = _source_text()
    ours = [(where, name) for where, name in exports if name.startswith(("CAMID_", "FLICKR_"))]
    assert ours
    unread = [(where, name) for where, name in ours if f'"{name}"' not in source]
    assert not unread
    others = {name for _, name in exports} - {name for _, name in ours}
    assert others <= {"PREFECT_API_URL"}, others


def test_prefect_lines_name_served_deployments_and_their_parameters() -> None:
    import inspect

    from prefect import Flow

    from flows import prefect_flows

    prefect = [c for c in COMMANDS if c.words[0] == "prefect"]
    runs = [c for c in prefect if c.words[1:3] == ["deployment", "run"]]
    assert runs
    unknown = [c.text for c in prefect if c not in runs and tuple(c.words[:2]) not in EXTERNAL]
    assert not unknown
    flows = {v.name: v for v in vars(prefect_flows).values() if isinstance(v, Flow)}
    served = {f"{d.flow_name}/{d.name}": flows[d.flow_name] for d in prefect_flows.deployments()}
    for line in runs:
        name = line.words[3]
        assert name in served, f"{line.where}: camid serve has no deployment {name!r} ({sorted(served)})"
        accepted = set(inspect.signature(served[name].fn).parameters)
        given = {line.words[i + 1].split("=", 1)[0] for i, w in enumerate(line.words) if w == "-p"}
        assert given <= accepted, f"{line.where}: {name} takes no {given - accepted}"
