#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One-off helper kept for headers added later: turn a public header's plain
comments into Doxygen comments.  The file comment after the SPDX line
becomes `/** @file ... */`; a comment on its own lines just before a
declaration becomes `/** ... */`; a comment after code on the same line
becomes `/**< ... */`.  Prints the new text to stdout."""
import re
import sys

text = open(sys.argv[1]).read()
lines = text.split("\n")
out = []
i = 0
seen_file = False
while i < len(lines):
    line = lines[i]
    stripped = line.lstrip()
    if stripped.startswith("/* SPDX"):
        out.append(line)
        i += 1
        continue
    if stripped.startswith("/*") and not stripped.startswith("/**"):
        # a comment on its own line(s)
        j = i
        while "*/" not in lines[j]:
            j += 1
        block = lines[i:j + 1]
        if not seen_file:
            m = re.match(r"(\s*)/\* (ebra[^ ]*\.h)\s+—\s*(.*)", block[0])
            if m:
                block[0] = f"{m.group(1)}/** @file {m.group(2)}\n{m.group(1)} * @brief {m.group(3)}"
                seen_file = True
                out.extend(block)
                i = j + 1
                continue
        nxt = lines[j + 1].strip() if j + 1 < len(lines) else ""
        if nxt and not nxt.startswith("#ifndef") and not nxt.startswith("#include") \
                and not nxt.startswith("#ifdef __cplusplus") and not nxt.startswith("/*"):
            block[0] = block[0].replace("/*", "/**", 1)
        out.extend(block)
        i = j + 1
        continue
    m = re.match(r"(.*\S.*?)(\s+)/\* (.*)$", line)
    if m and not m.group(1).lstrip().startswith("*") and not m.group(1).lstrip().startswith("#include") \
            and not m.group(1).lstrip().startswith("#endif") and "/**<" not in line:
        out.append(f"{m.group(1)}{m.group(2)}/**< {m.group(3)}")
        i += 1
        continue
    out.append(line)
    i += 1
sys.stdout.write("\n".join(out))
