#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compile every code block of README.md: ```c blocks as C11 and ```cpp
blocks as C++17, each with -Wall -Wextra -pedantic -Werror (unused names
allowed: the snippets are fragments).  A block becomes the body of its own
function, after the block's #include lines and a prelude that declares
what the fragments take from their context (a struct conn, the objects
earlier blocks made, a cleanup callback).  The C blocks must compile as C:
no C++ compiler is ever given one.

Usage: check_readme.py README.md INCLUDE_DIR CC CXX"""
import re
import subprocess
import sys
import tempfile

C_PRELUDE = """#include <stdint.h>
#include <ebra.h>
struct conn { int fd; char buf[56]; };
static ebra_pool_t *pool;
static ebra_domain_t *dom;
static ebra_weak_table_t *tab;
static ebra_weak_t h;
static uint64_t conn_id;
static void *arg;
static void on_closed(void *a, ebra_weak_t w) { (void)a; (void)w; }
"""
CPP_PRELUDE = "#include <ebra/ebra.hpp>\n"
QUIET = ["-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-function",
         "-Wno-unused-value"]


def blocks(text):
    for m in re.finditer(r"^```(c|cpp)\n(.*?)^```", text, re.S | re.M):
        yield m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1


def source(lang, body, n):
    includes = [l for l in body.split("\n") if l.startswith("#include")]
    rest = [l for l in body.split("\n") if not l.startswith("#include")]
    # C++ type definitions at the top of a block stay at file scope.
    top, code = [], rest
    if lang == "cpp":
        i, depth = 0, 0
        while i < len(rest) and (rest[i].startswith("struct") or depth > 0 or not rest[i].strip()):
            depth += rest[i].count("{") - rest[i].count("}")
            i += 1
        top, code = rest[:i], rest[i:]
    code = [l if l.strip() != "..." else "/* ... */" for l in code]
    prelude = C_PRELUDE if lang == "c" else CPP_PRELUDE
    return "\n".join(includes) + "\n" + prelude + "\n".join(top) + \
        f"\nvoid readme_block_{n}(void);\nvoid readme_block_{n}(void) {{\n" + "\n".join(code) + "\n}\n"


def main():
    readme, inc, cc, cxx = sys.argv[1:5]
    failures = 0
    count = {"c": 0, "cpp": 0}
    for n, (lang, body, line) in enumerate(blocks(open(readme).read())):
        count[lang] += 1
        src = source(lang, body, n)
        suffix = ".c" if lang == "c" else ".cpp"
        with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as f:
            f.write(src)
        if lang == "c":
            cmd = [cc, "-std=c11", "-x", "c"]
        else:
            cmd = [cxx, "-std=c++17", "-x", "c++"]
        cmd += ["-Wall", "-Wextra", "-pedantic", "-Werror"] + QUIET + \
            ["-I", inc, "-fsyntax-only", f.name]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            failures += 1
            print(f"README.md:{line}: the {lang} block does not compile:\n{r.stderr}\n--- as compiled:\n{src}")
    print(f"check_readme: {count['c']} C blocks (as C11), {count['cpp']} C++ blocks (as C++17), "
          f"{failures} failures")
    return 1 if failures or not count["c"] or not count["cpp"] else 0


if __name__ == "__main__":
    sys.exit(main())
