#!/usr/bin/env python3
"""The code's shape, checked: the floors of src/ include/ and tests/ include only downward, no
two files include each other (directly or round a loop), and no function is longer than 80 lines
in C++ (src/, include/, tests/, bench/) or Python (scripts/, bench/, tests/).

    scripts/check_structure.py [--report]

Floors, bottom up (docs/development.md): io, config, data, models/kernels, models, records,
training, experiment, sweep, cli. A file's floor is its folder under src/, include/cifar_exp/ or
tests/; files at the top of tests/ (shared test support) are not checked for direction. A module
is a header and its .cpp together, so `a.cpp` including `b.h` while `b.h` includes `a.h` is a
loop. --report also prints the include counts between floors, the longest functions and the
biggest files. Any Python 3 (standard library only). Exit 0 clean, 1 with one line per problem.
"""
import ast
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOORS = ["io", "config", "data", "models/kernels", "models", "records", "training",
          "experiment", "sweep", "cli"]
MAX_FUNCTION_LINES = 80
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def floor_of(relative):
    """The floor of a path below src/, include/cifar_exp/ or tests/ (None above any floor)."""
    for prefix in ("src/", "include/cifar_exp/", "tests/"):
        if relative.startswith(prefix):
            rest = relative[len(prefix):]
            # The deepest floor that contains it (models/kernels before models).
            for floor in sorted(FLOORS, key=len, reverse=True):
                if rest.startswith(floor + "/"):
                    return floor
            return None
    return None


def module_of(relative):
    """`floor/name` for a header or source of the library (tests and their sources apart)."""
    base = os.path.splitext(os.path.basename(relative))[0]
    floor = floor_of(relative)
    kind = "test:" if relative.startswith("tests/") else ""
    return f"{kind}{floor}/{base}" if floor else None


def included_module(include):
    """The module an include names, when it is one of ours: cifar_exp/<floor>/x.h or <floor>/x.h."""
    path = include[len("cifar_exp/"):] if include.startswith("cifar_exp/") else include
    for floor in sorted(FLOORS, key=len, reverse=True):
        if path.startswith(floor + "/") and "/" not in path[len(floor) + 1:]:
            return floor, f"{floor}/{os.path.splitext(os.path.basename(path))[0]}"
    return None, None


def cxx_files(folders):
    for folder in folders:
        for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in sorted(names):
                if name.endswith((".cpp", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, name), ROOT)


def check_layers(problems, report):
    edges = defaultdict(set)
    between = defaultdict(int)
    for relative in cxx_files(["src", "include/cifar_exp", "tests"]):
        floor, module = floor_of(relative), module_of(relative)
        text = open(os.path.join(ROOT, relative), encoding="utf-8").read()
        for include in INCLUDE.findall(text):
            to_floor, to_module = included_module(include)
            if not to_floor or floor is None:
                continue
            between[(floor, to_floor)] += 1
            if FLOORS.index(to_floor) > FLOORS.index(floor):
                problems.append(f"{relative}: includes {include}, a floor above {floor}/")
            if module and to_module != module.replace("test:", "").replace("_test", ""):
                edges[module].add(to_module)
    for loop in loops(edges):
        problems.append("include loop: " + " -> ".join(loop + [loop[0]]))
    if report:
        print("includes between floors (from -> to: count):")
        for (a, b), n in sorted(between.items(), key=lambda e: (FLOORS.index(e[0][0]),
                                                                  FLOORS.index(e[0][1]))):
            print(f"  {a:15} -> {b:15} {n:3}{'  UPWARD' if FLOORS.index(b) > FLOORS.index(a) else ''}")


def loops(edges):
    """Every strongly connected group of more than one module (Tarjan), as a list."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def strip_cxx(text):
    """The text with comments, strings and character literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            delim = text[i + 2:text.find("(", i)]
            j = text.find(")" + delim + '"', i)
            j = n if j < 0 else j + len(delim) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'" and not (c == "'" and i > 0 and text[i - 1].isalnum()):
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def cxx_functions(relative):
    """(name, first line, line count) of each function body at namespace or class scope."""
    text = strip_cxx(open(os.path.join(ROOT, relative), encoding="utf-8").read())
    scopes, header_start, functions = [], 0, []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "{":
            header = text[header_start:i]
            inside_function = any(kind in ("function", "block") for kind, _ in scopes)
            if inside_function:
                kind = "block"
            elif re.search(r"\b(namespace|extern)\b", header):
                kind = "namespace"
            elif re.search(r"\b(class|struct|union|enum)\b[^()]*$", header):
                kind = "class"
            elif ")" in header and re.search(r"\)[^()]*:[^:]", header) and re.search(r"\w\s*$", header):
                # A member's brace initializer in a constructor's list: skip it, keep the header.
                depth, j = 0, i
                while j < len(text):
                    depth += {"{": 1, "}": -1}.get(text[j], 0)
                    if depth == 0:
                        break
                    j += 1
                i = j + 1
                continue
            elif ")" in header and not re.search(r"=\s*$", header):
                kind = "function"
            else:
                kind = "block"
            scopes.append((kind, header))
            if kind == "function":
                start = header_start + len(header) - len(header.lstrip())
                scopes[-1] = (kind, (start, header))
            header_start = i + 1
        elif c == "}":
            if scopes:
                kind, info = scopes.pop()
                if kind == "function":
                    start, header = info
                    first = text.count("\n", 0, start) + 1
                    last = text.count("\n", 0, i) + 1
                    name = re.findall(r"([~\w:]+(?:operator\S*)?)\s*\(", header)
                    functions.append((name[0] if name else "?", first, last - first + 1))
            header_start = i + 1
        elif c == ";":
            header_start = i + 1
        i += 1
    return functions


def python_functions(relative):
    tree = ast.parse(open(os.path.join(ROOT, relative), encoding="utf-8").read(), relative)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def python_files():
    for folder in ("scripts", "bench", "tests"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in sorted(names):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, name), ROOT)


def check_lengths(problems, report):
    measured, sizes = [], []
    for relative in list(cxx_files(["src", "include/cifar_exp", "tests", "bench"])):
        sizes.append((sum(1 for _ in open(os.path.join(ROOT, relative))), relative))
        measured += [(n, relative, name, first) for name, first, n in cxx_functions(relative)]
    for relative in python_files():
        sizes.append((sum(1 for _ in open(os.path.join(ROOT, relative))), relative))
        measured += [(n, relative, name, first) for name, first, n in python_functions(relative)]
    for n, relative, name, first in measured:
        if n > MAX_FUNCTION_LINES:
            problems.append(f"{relative}:{first}: {name} is {n} lines (at most {MAX_FUNCTION_LINES})")
    if report:
        print("longest functions:")
        for n, relative, name, first in sorted(measured, reverse=True)[:5]:
            print(f"  {n:4} {relative}:{first} {name}")
        print("biggest files (lines):")
        for n, relative in sorted(sizes, reverse=True)[:5]:
            print(f"  {n:5} {relative}")


def main():
    report = "--report" in sys.argv[1:]
    problems = []
    check_layers(problems, report)
    check_lengths(problems, report)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"check_structure: floors include only downward, no include loops, no function over "
              f"{MAX_FUNCTION_LINES} lines")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
