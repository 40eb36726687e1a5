"""README.md and docs/*.md against the program they document: the CTest tests
readme_matches_program and readme_examples (issue 26; docs/ since issue 40). What the program
offers is asked of the program itself (its --help, --print-config, a finished run folder), never
restated here. README.md and every docs/*.md are read as one text ("README" below): a section is
found by its heading in whichever file has it (exactly one file must), and every problem names
the file and line.

    readme_test.py program  CIFAR_EXP MAKE_TEST_DATA
    readme_test.py examples CIFAR_EXP MAKE_TEST_DATA

program: every subcommand README names is one `cifar-exp --help` lists, and each listed one is in
  README; every --flag README gives a command (in a `cifar-exp [SUBCOMMAND] ...` line of a code
  block or an inline code span) is in that command's --help, and every flag of every command's
  --help is in some README line of that command (`cifar-exp [train] ...`, the subcommand in
  brackets, is a line of both the plain command and that subcommand; --help of subcommands,
  which CLI11 gives each one, is exempt); the keys of "Config reference" against the resolved
  configs (`--print-config` of every configs/*.json and of EXTRA_SETUPS, their union; a
  documented key none of them resolves is asked with `--set KEY=null`); the files of "What a run
  writes" against a finished tiny run folder (2 epochs and an `evaluate`), both ways, with the
  `*.crc32` row's list; every key of that run's summary.json named in the summary.json row;
  metrics.csv's header against the columns the metrics.csv row lists. Links: every relative
  link `[text](PATH#ANCHOR)` outside code names a file of the repository that exists and, with
  an anchor into a Markdown file, one of its headings (GitHub's anchors); README.md links every
  docs/*.md.
examples: every ```sh and ```python block carries a mark on the line before it,
  `<!-- readme_examples: run -->` or `<!-- readme_examples: not run: REASON -->`; the run ones
  run as written, in a temporary folder holding configs/ (the repository's), build/cifar-exp and
  cifar-exp on PATH (CIFAR_EXP), cifar-exp's default data folder (`--print-default data_dir`:
  data/cifar-10-batches-bin; generated: 256 training and 128 test images) and runs/sweep (a scripts/sweep.sh sweep of no_aug_no_tl and aug_no_tl, 1 seed, 1
  epoch, 128 images); each shell line must exit 0. The Python examples run with /usr/bin/python3
  and RUN_DIR set to a no_aug_no_tl run of that sweep; each output line "I: ... logits V1 ... V10"
  must match `cifar-exp predict RUN_DIR --format json` on the same test image (as a PNG) within
  1e-5. Without torch in /usr/bin/python3 the Python part is skipped: "SKIP: ...", exit 77 (the
  test's SKIP_RETURN_CODE) when every shell example passed.

Exit status 0 when all holds; 1 with one line per problem, naming what is missing where.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS_DIR = os.path.join(ROOT, "docs")
SKIP = 77
TOLERANCE = 1e-5
MARK = re.compile(r"^<!--\s*readme_examples:\s*(run|not run:\s*\S.*?)\s*-->$")
EXAMPLE_LANGUAGES = {"sh", "bash", "shell", "python"}
# `cifar-exp` as a command word: after the start or white space (not `--cifar-exp`, `(cifar-exp`,
# `share/cifar-exp/...`), possibly with a path (`./build/cifar-exp`, `~/.local/bin/cifar-exp`).
INVOCATION = re.compile(r"(?:(?<=\s)|^)(?:[\w.~/-]*/)?cifar-exp(?=\s|$)")
# Where one shell command ends: ; && || a pipe (" | ", not the "a|b" of a synopsis), redirection.
COMMAND_END = re.compile(r";|&&|\|\||\s\|\s|\s[0-9]?>|\s<|\$\(")
# Setups whose resolved config has keys no shipped config resolves (configs/smoke.json plus these).
EXTRA_SETUPS = [["--set", "training.validation=split"]]   # training.validation_split
WORKERS = max(2, os.cpu_count() or 2)   # each cifar-exp start costs about a second (libtorch)
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def run(args, cwd=None, env=None, timeout=120):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def tail(text, lines=5):
    return " | ".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# README.md and docs/*.md, parsed: headings, fenced blocks (with the mark before them), prose and
# tables. Each file is a Readme; Docs is all of them, README.md first.

class Readme:
    def __init__(self, path):
        self.path = path
        self.name = os.path.relpath(path, ROOT)   # "README.md", "docs/configuration.md"
        self.lines = open(path, encoding="utf-8").read().splitlines()
        self.blocks = []     # {"line", "language", "body": [lines], "mark", "mark_line"}
        self.headings = []   # (line index, level, title)
        self.prose = []      # (line index, text) per paragraph, lines joined by spaces
        self.widths = {}     # line index of a paragraph -> the length of each of its lines
        paragraph, start, fence = [], 0, None
        for i, line in enumerate(self.lines):
            if fence is not None:
                if line.strip() == "```":
                    self.blocks.append(fence)
                    fence = None
                else:
                    fence["body"].append(line)
                continue
            opening = re.match(r"^```\s*([\w-]*)\s*$", line)
            if opening:
                mark, mark_line = self._mark_before(i)
                fence = {"line": i + 1, "language": opening.group(1), "body": [], "mark": mark,
                         "mark_line": mark_line}
            heading = re.match(r"^(#+)\s+(.*?)\s*$", line)
            if heading and not opening:
                self.headings.append((i, len(heading.group(1)), heading.group(2)))
            if opening or heading or not line.strip():
                if paragraph:
                    self._add_paragraph(start, paragraph)
                paragraph = []
                continue
            if not paragraph:
                start = i
            paragraph.append(line.strip())
        if paragraph:
            self._add_paragraph(start, paragraph)

    def _add_paragraph(self, start, lines):
        self.prose.append((start, " ".join(lines)))
        self.widths[start] = [len(line) + 1 for line in lines]

    def line_of(self, start, offset):
        """The 1-based line of character `offset` of the paragraph that starts at index start."""
        for n, width in enumerate(self.widths[start]):
            if offset < width:
                return start + n + 1
            offset -= width
        return start + len(self.widths[start])

    def _mark_before(self, i):
        j = i - 1
        while j >= 0 and not self.lines[j].strip():
            j -= 1
        if j >= 0 and self.lines[j].strip().startswith("<!--"):
            return self.lines[j].strip(), j + 1
        return None, None

    def where(self, line):
        """"docs/configuration.md:12": a 1-based line of this file, as problems name it."""
        return "{}:{}".format(self.name, line)

    def sections(self, title):
        """Line indices of each section whose heading is `title`, to the next heading."""
        found = []
        for n, (i, _, text) in enumerate(self.headings):
            if text == title:
                end = self.headings[n + 1][0] if n + 1 < len(self.headings) else len(self.lines)
                found.append(range(i + 1, end))
        return found

    def table(self, section):
        """The rows (where, cells) of the first table in `section`, header left out."""
        rows = []
        for i in section:
            line = self.lines[i].strip()
            if not line.startswith("|"):
                if rows:
                    break
                continue
            cells = split_row(line)
            if all(re.fullmatch(r":?-+:?", c.strip()) for c in cells if c.strip()):
                continue
            rows.append((self.where(i + 1), cells))
        return rows[1:]  # the header row

    def anchors(self):
        """The #anchors GitHub gives this file's headings ("-1", "-2" on repeats)."""
        seen, anchors = {}, set()
        for _, _, title in self.headings:
            base = slug(title)
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchors.add(base if n == 0 else "{}-{}".format(base, n))
        return anchors

    def links(self):
        """(line, target) of every Markdown link in the prose (not in code blocks or spans)."""
        for start, text in self.prose:
            text = re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), text)
            for m in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text):
                yield self.line_of(start, m.start()), m.group(1)

    def code_texts(self):
        """(line, text) of every piece of code a reader would type or read as a command line:
        logical lines of the shell and synopsis blocks (comments dropped) and inline code spans.
        Python blocks and console output are left out (their `cifar-exp` is prose)."""
        for block in self.blocks:
            if block["language"] not in ("", "sh", "bash", "shell"):
                continue
            for line, text in logical_lines(block["body"], block["line"] + 1):
                yield line, text
        for start, text in self.prose:
            for span in re.finditer(r"(`+)(.+?)\1", text):
                yield self.line_of(start, span.start()), span.group(2)


class Docs:
    """README.md and every docs/*.md, README.md first: what the tests read."""

    def __init__(self):
        paths = [README] + sorted(glob.glob(os.path.join(DOCS_DIR, "*.md")))
        self.files = [Readme(path) for path in paths]
        self.names = ", ".join(f.name for f in self.files[:1]) + \
            (" and docs/*.md" if len(self.files) > 1 else "")
        self.heading_of = {}   # title -> "FILE:LINE" of its heading, once table() found it

    def section_name(self, title):
        """"Config reference (docs/configuration.md:1)": a section as problems name it."""
        return "{} ({})".format(title, self.heading_of.get(title, "not found"))

    def table(self, title, problem):
        """The rows (where, cells) of the first table under the heading `title`, which exactly
        one file must have, once; [] (and a problem) otherwise."""
        found = [(f, s) for f in self.files for s in f.sections(title)]
        if not found:
            problem('{} have no "{}" section (a heading of that title)'.format(self.names, title))
            return []
        if len(found) > 1:
            problem('"{}" is a heading in more than one place ({}): the tests read one'.format(
                title, ", ".join(f.where(s.start) for f, s in found)))
        doc, section = found[0]
        self.heading_of[title] = doc.where(section.start)
        rows = doc.table(section)
        if not rows:
            problem('{}: the "{}" section has no table'.format(doc.where(section.start), title))
        return rows


def slug(title):
    """GitHub's anchor for a heading: its text (code marks and link targets dropped) in lower
    case, punctuation other than - and _ removed, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def check_links(docs, problem):
    """Every relative link of README.md and docs/*.md names a file that exists and, with an
    #anchor into a Markdown file, one of its headings; README.md links every docs/*.md.
    Returns the number of links checked."""
    by_path = {os.path.realpath(f.path): f for f in docs.files}
    linked_from_readme, count = set(), 0
    for doc in docs.files:
        for line, target in doc.links():
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue   # https:, mailto:: not ours to check
            count += 1
            path, _, anchor = target.partition("#")
            full = os.path.realpath(os.path.join(os.path.dirname(doc.path), path)) if path \
                else os.path.realpath(doc.path)
            if not full.startswith(os.path.realpath(ROOT) + os.sep) or not os.path.exists(full):
                problem("{}: the link ({}) names {}, which does not exist in the repository".format(
                    doc.where(line), target, os.path.relpath(full, ROOT)))
                continue
            if doc.name == "README.md":
                linked_from_readme.add(full)
            if anchor and full.endswith(".md"):
                target_doc = by_path.get(full) or Readme(full)
                if anchor not in target_doc.anchors():
                    problem("{}: the link ({}) names the anchor #{}, which no heading of {} "
                            "has ({})".format(doc.where(line), target, anchor, target_doc.name,
                                              ", ".join(sorted(target_doc.anchors()))))
    for doc in docs.files[1:]:
        if os.path.realpath(doc.path) not in linked_from_readme:
            problem("README.md links no ({}): every docs page must be reachable from README's "
                    "Where to go next".format(doc.name))
    return count


def split_row(line):
    """Cells of a Markdown table row; a | inside `code` does not split."""
    cells, cell, in_code = [], "", False
    for ch in line.strip().strip("|"):
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(cell)
            cell = ""
        else:
            cell += ch
    cells.append(cell)
    return cells


def code_spans(text):
    return [m.group(2).strip() for m in re.finditer(r"(`+)(.+?)\1", text)]


def logical_lines(body, first_line):
    """Lines of a code block with `#` comments dropped; a line ending in \\ or followed by
    indented lines (a synopsis' continuation) is one line with them."""
    out, current, start = [], None, 0
    for n, raw in enumerate(body):
        code = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        continues = current is not None and (raw[:1].isspace() or current.endswith("\\"))
        if continues:
            current = current.rstrip("\\") + " " + code.strip()
            continue
        if current is not None and current.strip():
            out.append((start, current))
        current, start = code, first_line + n
    if current is not None and current.strip():
        out.append((start, current))
    return out


def invocations(readme):
    """(where, commands, flags, text) for each `cifar-exp ...` command a file shows (where: its
    "FILE:LINE"). commands: "" for the main command, else the subcommand word; both for
    `cifar-exp [word] ...`."""
    for line, text in readme.code_texts():
        matches = list(INVOCATION.finditer(text))
        for n, m in enumerate(matches):
            # A command starts the line or follows ; && || | $( or VAR=value assignments; else
            # `cifar-exp` is a word of prose (the Layout block's "config cifar-exp prints").
            before = re.sub(r"(\s*[A-Za-z_]\w*=\S*)*\s*$", "", text[:m.start()])
            if before and not re.search(r"(;|&&|\|\||\||\$\(|`)$", before):
                continue
            end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
            rest = text[m.end():end]
            stop = COMMAND_END.search(rest)
            if stop:
                rest = rest[:stop.start()]
            word = re.match(r"\s*(\[?)([a-z][a-z0-9-]*)(\]?)(?=\s|$)", rest)
            if word and word.group(1) == "[" and word.group(3) == "]":
                commands = ["", word.group(2)]
            elif word and not word.group(1) and not word.group(3):
                commands = [word.group(2)]
            else:
                commands = [""]
            shown = ("cifar-exp" + rest).strip()
            yield readme.where(line), commands, FLAG.findall(rest), shown


# ---------------------------------------------------------------------------------------------
# The program, asked.

def help_of(binary, command):
    """(subcommands, long flags) that `cifar-exp [command] --help` lists."""
    args = [binary] + ([command] if command else []) + ["--help"]
    out = run(args)
    if out.returncode != 0:
        raise SystemExit("readme_test: {} failed ({}): {}".format(
            " ".join(args), out.returncode, tail(out.stderr)))
    subcommands, flags, section = [], [], None
    for line in out.stdout.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line[:-1]
            continue
        if section == "Subcommands":
            m = re.match(r"^  ([a-z][\w-]*)(\s|$)", line)
            if m:
                subcommands.append(m.group(1))
        elif section == "Options":
            m = re.match(r"^  (-\S+)", line)
            if m:
                flags += [f for f in m.group(1).split(",") if f.startswith("--")]
    return subcommands, flags


def flatten(doc, prefix=""):
    """{dotted path: value} for every key of a JSON object, objects included."""
    paths = {}
    for key, value in doc.items():
        path = prefix + key
        paths[path] = value
        if isinstance(value, dict):
            paths.update(flatten(value, path + "."))
    return paths


def make_data(make_test_data, folder, n_train, n_test):
    out = run([make_test_data, folder, str(n_train), str(n_test)])
    if out.returncode != 0:
        raise SystemExit("readme_test: make_test_data failed: " + tail(out.stderr))


# ---------------------------------------------------------------------------------------------
# readme_matches_program

def check_commands(binary, docs, problem):
    """Subcommands and flags: README's against every command's --help, both ways. Returns (the
    command lines found, {command: its --help flags})."""
    main_subcommands, main_flags = help_of(binary, "")
    flags_of = {"": main_flags}
    with ThreadPoolExecutor(WORKERS) as pool:
        for sub, (_, flags) in zip(main_subcommands,
                                   pool.map(lambda sub: help_of(binary, sub), main_subcommands)):
            flags_of[sub] = flags
    shown = {command: set() for command in flags_of}   # flags README gives each command
    named = set()
    found = [found for doc in docs.files for found in invocations(doc)]
    for line, commands, flags, text in found:
        for command in commands:
            if command and command not in flags_of:
                problem('{}: subcommand "{}" (in "{}") is not one `cifar-exp --help` '
                        'lists ({})'.format(line, command, text, ", ".join(main_subcommands)))
                continue
            named.add(command)
            where = "cifar-exp " + command if command else "cifar-exp"
            for flag in flags:
                if flag not in flags_of[command]:
                    problem('{}: "{}" gives `{}` the flag {}, which `{} --help` does '
                            'not list'.format(line, text, where, flag, where))
                else:
                    shown[command].add(flag)
    for command, flags in flags_of.items():
        where = "cifar-exp " + command if command else "cifar-exp"
        if command and command not in named:
            problem("`cifar-exp --help` lists the subcommand {}, but {} show no `cifar-exp "
                    "{} ...` line".format(command, docs.names, command))
            continue
        for flag in flags:
            if flag == "--help" and command:
                continue  # CLI11 gives every subcommand --help
            if flag not in shown[command]:
                problem("`{} --help` lists {}, but no line of `{}` in {} names it (e.g. the "
                        "synopsis in Running an experiment)".format(where, flag, where,
                                                                    docs.names))
    return found, flags_of


def resolved_configs(binary, work, configs, problem):
    """The union of the resolved shipped configs and EXTRA_SETUPS: (path -> [values], the paths
    the shipped configs resolve without EXTRA_SETUPS)."""
    resolved = {}   # path -> [values]
    shipped = set()  # paths the shipped configs resolve, without EXTRA_SETUPS
    smoke = os.path.join(ROOT, "configs", "smoke.json")
    setups = [["--config", c] for c in configs] + [["--config", smoke] + e for e in EXTRA_SETUPS]
    with ThreadPoolExecutor(WORKERS) as pool:
        printed = list(pool.map(
            lambda setup: run([binary, "--print-config"] + setup, cwd=work), setups))
    for n, (setup, out) in enumerate(zip(setups, printed)):
        if out.returncode != 0:
            problem("`cifar-exp --print-config {}` failed (EXTRA_SETUPS in tests/readme_test.py "
                    "lists setups for keys only some setups resolve): {}".format(
                        " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a
                                 for a in setup), tail(out.stderr)))
            continue
        for path, value in flatten(json.loads(out.stdout)).items():
            resolved.setdefault(path, []).append(value)
            if n < len(configs):
                shipped.add(path)
    return resolved, shipped


def check_config_keys(binary, docs, work, problem):
    """The keys of "Config reference" against the resolved configs, both ways. Returns the
    resolved paths (path -> [values])."""
    configs = sorted(glob.glob(os.path.join(ROOT, "configs", "*.json")))
    resolved, shipped = resolved_configs(binary, work, configs, problem)
    rows = docs.table("Config reference", problem)
    documented = {}
    for line, cells in rows:
        for key in code_spans(cells[0]):
            if re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*", key):
                documented[key] = line
    for key, line in sorted(documented.items()):
        if key in resolved:
            continue
        # Keys a config resolves only in some setups: does the config parser know it?
        answers = []
        for config in configs:
            out = run([binary, "--print-config", "--config", config, "--set", key + "=null"],
                      cwd=work)
            if out.returncode == 0:
                break
            answers.append(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "")
        else:
            problem("{}: Config reference documents `{}`, but no configs/*.json "
                    "resolves it (`cifar-exp --print-config`) and `--set {}=null` is refused: "
                    "{}".format(line, key, key, answers[0] if answers else "?"))
    # A documented key covers its sub-keys only where it is a value of its own somewhere
    # (augmentation.random_crop: null or {"padding", "size"}); a section (model) covers nothing.
    leaves = {p for p, values in resolved.items() if any(not isinstance(v, dict) for v in values)}
    covering = {k for k in documented if k in leaves}
    for path in sorted(resolved):
        if path in leaves and not any(path == k or path.startswith(k + ".") for k in covering):
            problem("config key `{}` (in `cifar-exp --print-config` of configs/*.json{}) is not "
                    "in the table of {}".format(
                        path, "" if path in shipped else " with EXTRA_SETUPS",
                        docs.section_name("Config reference")))
    return resolved


def tiny_run(binary, make_test_data, work):
    """A finished tiny run: 2 epochs (so that checkpoint.prev.pt exists) and an evaluation.
    Returns its folder."""
    data = os.path.join(work, "data")
    make_data(make_test_data, data, 256, 128)
    out = run([binary, "--config", os.path.join(ROOT, "configs", "smoke.json"), "--data-dir",
               data, "--output-dir", "runs", "--epochs", "2", "--train-limit", "128",
               "--test-limit", "64", "--device", "cpu", "--threads", "2"], cwd=work)
    if out.returncode != 0:
        raise SystemExit("readme_test: the tiny run failed: " + tail(out.stdout + out.stderr))
    run_dirs = glob.glob(os.path.join(work, "runs", "smoke-*"))
    if len(run_dirs) != 1:
        raise SystemExit("readme_test: the tiny run made {} run folders".format(len(run_dirs)))
    run_dir = run_dirs[0]
    out = run([binary, "evaluate", run_dir], cwd=work)
    if out.returncode != 0:
        raise SystemExit("readme_test: evaluate failed: " + tail(out.stderr))
    return run_dir


def writes_table(docs, problem):
    """The table of "What a run writes": (file name patterns {name: (regex, line)}, the files
    its other cells name {name: line}, and the (line, cells) of its *.crc32, summary.json and
    metrics.csv rows, None where there is none)."""
    rows = docs.table("What a run writes", problem)
    patterns, mentioned, crc_row, summary_row, metrics_row = {}, {}, None, None, None
    file_name = re.compile(r"[\w<>*.-]+\.(pt|json|jsonl|csv|log|crc32|png|npy|txt)")
    for line, cells in rows:
        names = code_spans(cells[0])
        for name in names:
            regex = re.escape(name).replace(r"\*", "[^/]*")
            regex = re.sub(r"<[^>]*>", "[^/]+", regex.replace(r"\<", "<").replace(r"\>", ">"))
            patterns[name] = (re.compile(regex + "$"), line)
        for span in code_spans("|".join(cells[1:])):
            if file_name.fullmatch(span) and not re.search(r"[<>*]", span):
                mentioned.setdefault(span, line)
        if "*.crc32" in names:
            crc_row = (line, {s for s in code_spans(cells[1]) if file_name.fullmatch(s)})
        if "summary.json" in names:
            summary_row = (line, set(code_spans(cells[1])))
        if "metrics.csv" in names:
            metrics_row = (line, code_spans(cells[1]))
    return patterns, mentioned, crc_row, summary_row, metrics_row


def check_run_files(files, patterns, mentioned, crc_row, writes, problem):
    """The run folder's files against the table's rows and its *.crc32 row, both ways."""
    folder = "the finished run folder (2 epochs, then `evaluate`)"
    for name, (regex, line) in patterns.items():
        if not any(regex.match(f) for f in files):
            problem("{}: What a run writes lists `{}`, but {} has no such file (it has "
                    "{})".format(line, name, folder, ", ".join(files)))
    for name, line in mentioned.items():
        if name not in files:
            problem("{}: What a run writes names the file `{}`, but {} has none".format(
                line, name, folder))
    for f in files:
        if not any(regex.match(f) for regex, _ in patterns.values()) and f not in mentioned:
            problem("{} holds `{}`, which the table of {} does not list".format(
                folder, f, writes))
    if crc_row is None:
        problem("The table of {} has no `*.crc32` row".format(writes))
    else:
        line, with_checksum = crc_row
        for f in files:
            if f.endswith(".crc32") and f[:-len(".crc32")] not in with_checksum:
                problem("{}: the run folder has `{}`, but the `*.crc32` row does not "
                        "name `{}` among the files with a checksum".format(
                            line, f, f[:-len(".crc32")]))
        for name in sorted(with_checksum):
            if name + ".crc32" not in files:
                problem("{}: the `*.crc32` row says `{}` has a checksum, but the run "
                        "folder has no `{}.crc32`".format(line, name, name))


def check_summary_keys(summary, summary_row, writes, problem):
    """summary.json: every key named in its row (nested ones too: process.host, ...). Keys that
    are file names (provenance.data_files) are data, not names; their fields are checked."""
    if summary_row is None:
        problem("The table of {} has no `summary.json` row".format(writes))
    else:
        line, names = summary_row

        def walk(doc, prefix):
            for key, value in doc.items():
                path = prefix + key
                if "." not in key and key not in names:
                    problem("{}: summary.json has the key `{}`, which the "
                            "summary.json row does not name".format(line, path))
                if isinstance(value, dict):
                    walk(value, path + ".")
        walk(summary, "")


def check_metrics_columns(run_dir, metrics_row, writes, problem):
    """metrics.csv's header against the columns the metrics.csv row lists, both ways."""
    if metrics_row is None:
        problem("The table of {} has no `metrics.csv` row".format(writes))
    else:
        line, spans = metrics_row
        listed = next((s.split(",") for s in spans if "," in s), [])
        header = open(os.path.join(run_dir, "metrics.csv")).readline().strip().split(",")
        for column in header:
            if column not in listed:
                problem("{}: metrics.csv has the column `{}`, which the metrics.csv "
                        "row does not list".format(line, column))
        for column in listed:
            if column not in header:
                problem("{}: the metrics.csv row lists the column `{}`, which "
                        "metrics.csv does not have ({})".format(line, column, ",".join(header)))


def check_program(binary, make_test_data, work):
    docs = Docs()
    problems = []
    problem = problems.append
    # Links between README.md, docs/*.md and the repository's files.
    links = check_links(docs, problem)
    found, flags_of = check_commands(binary, docs, problem)
    resolved = check_config_keys(binary, docs, work, problem)
    run_dir = tiny_run(binary, make_test_data, work)
    files = sorted(os.listdir(run_dir))
    patterns, mentioned, crc_row, summary_row, metrics_row = writes_table(docs, problem)
    writes = docs.section_name("What a run writes")
    check_run_files(files, patterns, mentioned, crc_row, writes, problem)
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    check_summary_keys(summary, summary_row, writes, problem)
    check_metrics_columns(run_dir, metrics_row, writes, problem)
    checked = ("{} files, {} links, {} command lines, {} commands, {} config keys, {} run "
               "files, {} summary keys".format(len(docs.files), links, len(found),
                                               len(flags_of), len(resolved), len(files),
                                               len(summary)))
    return problems, checked


# ---------------------------------------------------------------------------------------------
# readme_examples

def marked_examples(docs, problem):
    """The ```sh and ```python blocks marked `run`, (file, block), README.md's first, in the
    order they appear; a block without a mark, or a mark without a block, is a problem."""
    examples = []
    for doc in docs.files:
        marked_lines = set()
        for block in doc.blocks:
            if block["mark"] is not None:
                marked_lines.add(block["mark_line"])
            if block["language"] not in EXAMPLE_LANGUAGES:
                continue
            mark = MARK.match(block["mark"] or "")
            if not mark:
                problem("{}: this ```{} example has no mark on the line before it "
                        "(`<!-- readme_examples: run -->` or `<!-- readme_examples: not run: "
                        "REASON -->`)".format(doc.where(block["line"]), block["language"]))
            elif mark.group(1) == "run":
                examples.append((doc, block))
        for i, line in enumerate(doc.lines):
            if line.strip().startswith("<!--") and "readme_examples:" in line and \
                    i + 1 not in marked_lines:
                problem("{}: a readme_examples mark not followed by a code block".format(
                    doc.where(i + 1)))
    return examples


def default_data_dir(binary):
    """cifar-exp's default data folder (relative), where the examples find the data unless told."""
    out = run([binary, "--print-default", "data_dir"])
    if out.returncode != 0:
        raise SystemExit("readme_test: cifar-exp --print-default data_dir failed: " +
                         tail(out.stderr))
    return out.stdout.strip()


def example_folder(binary, make_test_data, work, data_dir):
    """The folder the examples run in (build/ and bin/ cifar-exp, configs/, scripts/, generated
    data in data_dir and a sweep in runs/sweep); returns the examples' environment."""
    os.makedirs(os.path.join(work, "build"))
    os.makedirs(os.path.join(work, "bin"))
    os.symlink(os.path.abspath(binary), os.path.join(work, "build", "cifar-exp"))
    os.symlink(os.path.abspath(binary), os.path.join(work, "bin", "cifar-exp"))
    os.symlink(os.path.join(ROOT, "configs"), os.path.join(work, "configs"))
    os.symlink(os.path.join(ROOT, "scripts"), os.path.join(work, "scripts"))
    make_data(make_test_data, os.path.join(work, data_dir), 256, 128)
    env = dict(os.environ, PATH=os.path.join(work, "bin") + os.pathsep + os.environ["PATH"],
               CIFAR_EXP_BIN=os.path.abspath(binary), CIFAR_EXP=os.path.abspath(binary),
               PLOT_PYTHON="/nonexistent")
    env.pop("CIFAR10_DIR", None)
    out = run(["bash", "scripts/sweep.sh", "--configs", "no_aug_no_tl,aug_no_tl",
               "--data-dir", data_dir, "--output-dir", "runs/sweep",
               "--epochs", "1", "--train-limit", "128", "--test-limit", "64", "--device", "cpu",
               "--threads", "2"], cwd=work, env=env, timeout=300)
    if out.returncode != 0:
        raise SystemExit("readme_test: the sweep the examples read failed: " +
                         tail(out.stdout + out.stderr, 8))
    return env


def run_shell_examples(shell, work, env, problem):
    """Each logical line of the shell examples, which must exit 0; returns how many ran."""
    commands = 0
    for doc, block in shell:
        for line, text in logical_lines(block["body"], block["line"] + 1):
            commands += 1
            out = run(["bash", "-o", "pipefail", "-c", text], cwd=work, env=env)
            if out.returncode != 0:
                problem("{}: the example `{}` exits {}: {}".format(
                    doc.where(line), text.strip(), out.returncode,
                    tail(out.stderr or out.stdout)))
    return commands


def printed_logits(out):
    """The example's lines "I: ... logits V1 ... V10" as {I: [V1, ..., V10]}."""
    line_format = re.compile(r"^(\d+): .*?logits((?:\s+-?\d+(?:\.\d+)?(?:e[-+]?\d+)?){10})\s*$")
    printed = {}
    for text in out.stdout.splitlines():
        m = line_format.match(text)
        if m:
            printed[int(m.group(1))] = [float(v) for v in m.group(2).split()]
    return printed


def predicted_logits(binary, make_test_data, work, data_dir, run_dir, n, count):
    """`cifar-exp predict RUN_DIR --format json` on the first `count` test images as PNGs."""
    png = os.path.join(work, "png{}".format(n))
    made = run([make_test_data, "--png", os.path.join(work, data_dir), png, str(count)])
    if made.returncode != 0:
        raise SystemExit("readme_test: make_test_data --png failed: " + tail(made.stderr))
    images = sorted(glob.glob(os.path.join(png, "*-[0-9].png")),
                    key=lambda p: int(os.path.basename(p).split("-")[0]))
    predicted = run([binary, "predict", run_dir] + images + ["--format", "json", "--top",
                                                             "1"], cwd=work)
    if predicted.returncode != 0:
        raise SystemExit("readme_test: predict failed: " + tail(predicted.stderr))
    return json.loads(predicted.stdout)


def check_python_example(binary, make_test_data, work, env, example, problem):
    """Runs the n-th Python example with RUN_DIR (example: data_dir, run_dir, n, doc, block); its
    logits must match `cifar-exp predict`."""
    data_dir, run_dir, n, doc, block = example
    script = os.path.join(work, "example{}.py".format(n))
    with open(script, "w") as f:
        f.write("\n".join(block["body"]) + "\n")
    out = run(["/usr/bin/python3", script], cwd=work, env=dict(env, RUN_DIR=run_dir))
    where = "{}: the Python example (RUN_DIR={})".format(doc.where(block["line"]), run_dir)
    if out.returncode != 0:
        problem("{} exits {}: {}".format(where, out.returncode, tail(out.stderr)))
        return
    printed = printed_logits(out)
    if not printed:
        problem("{} prints no line \"I: ... logits V1 ... V10\"; it printed: {}".format(
            where, tail(out.stdout)))
        return
    count = max(printed) + 1
    worst = 0.0
    for result in predicted_logits(binary, make_test_data, work, data_dir, run_dir, n, count):
        index = int(os.path.basename(result["image"]).split("-")[0])
        if index not in printed:
            problem("{} prints no logits for test image {}".format(where, index))
            continue
        difference = max(abs(a - b) for a, b in zip(printed[index], result["logits"]))
        worst = max(worst, difference)
        if difference > TOLERANCE:
            problem("{}: test image {}: logits {} differ from `cifar-exp predict "
                    "--format json` {} by {:.2e} (more than {})".format(
                        where, index, printed[index], result["logits"], difference,
                        TOLERANCE))
    print("readme_examples: the Python example at {} matches `cifar-exp predict` "
          "on {} images (max |logit difference| {:.1e})".format(doc.where(block["line"]),
                                                                count, worst))


def check_examples(binary, make_test_data, work):
    docs = Docs()
    problems = []
    problem = problems.append
    examples = marked_examples(docs, problem)
    shell = [(d, b) for d, b in examples if b["language"] != "python"]
    python = [(d, b) for d, b in examples if b["language"] == "python"]
    if not python:
        problem("{} have no ```python example marked `<!-- readme_examples: run -->` (the "
                "weights.pt example of Installing, and using a trained model)".format(
                    docs.names))
    data_dir = default_data_dir(binary)
    env = example_folder(binary, make_test_data, work, data_dir)
    commands = run_shell_examples(shell, work, env, problem)
    if problems:
        return problems, None
    probe = run(["/usr/bin/python3", "-c", "import torch"])
    if probe.returncode != 0:
        return None, "{} shell example lines ran; the Python example needs torch in " \
            "/usr/bin/python3 (Debian: python3-torch): {}".format(commands, tail(probe.stderr, 1))

    runs = sorted(glob.glob(os.path.join(work, "runs", "sweep", "no_aug_no_tl-*")))
    if not runs:
        raise SystemExit("readme_test: the sweep made no runs/sweep/no_aug_no_tl-* folder")
    run_dir = os.path.relpath(runs[0], work)
    for n, (doc, block) in enumerate(python):
        check_python_example(binary, make_test_data, work, env,
                             (data_dir, run_dir, n, doc, block), problem)
    print("readme_examples: {} shell example lines and {} Python example(s) ran".format(
        commands, len(python)))
    return problems, None


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("program", "examples"):
        sys.exit("usage: readme_test.py program|examples CIFAR_EXP MAKE_TEST_DATA")
    mode = sys.argv[1]
    binary, make_test_data = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    name = "readme_matches_program" if mode == "program" else "readme_examples"
    work = tempfile.mkdtemp(prefix="readme_test.")
    try:
        if mode == "program":
            problems, note = check_program(binary, make_test_data, work)
        else:
            problems, note = check_examples(binary, make_test_data, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        for p in problems:
            print("{}: FAIL: {}".format(name, p))
        print("{}: {} problem(s)".format(name, len(problems)))
        sys.exit(1)
    if problems is None:
        print("{}: SKIP: {}".format(name, note))
        sys.exit(SKIP)
    print("{}: PASS{}".format(name, " ({})".format(note) if note else ""))


if __name__ == "__main__":
    main()
