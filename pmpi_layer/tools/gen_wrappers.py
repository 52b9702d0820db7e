#!/usr/bin/env python3
"""Generate libcrpmpi's repetitive code from Open MPI's mpi.h (the one spec).

Input: the *preprocessed* header, as the C compiler sees it.  CMake runs
`${CMAKE_C_COMPILER} -E -dD -DOMPI_OMIT_MPI1_COMPAT_DECLS=0 -I<MPI includes>`
on tools/mpi_h.c (which only includes mpi.h), so every macro (OMPI_DECLSPEC,
__mpi_interface_removed__, ...) is already expanded and the removed MPI-1
functions are declared too.  `-dD` keeps the macro definitions in the same
output, which is where the predefined handles come from.  This script parses
C from it: it tokenises, splits top-level declarations at `;`, drops GCC
attributes, and reads each `PMPI_*` prototype's return type, name and
parameters.  Parameters without a name get one, and a parameter is unnamed
when its last identifier is a keyword or a typedef name (typedefs are read
from the same output), not by guessing from formatting.

Which functions are hand-written is read from the compiled hand-written
objects: every `PMPI_*` symbol that `nm --defined-only` lists in them.  So
the build input is what the compiler really defined (a function made by a
macro counts like any other), there is no list or comment to keep in step,
and nothing can be both stubbed and implemented.  This is why the wrappers
are generated in a second step, after the hand-written objects are compiled.

Commands:
  gen_wrappers.py predefined MPI_I OUTDIR
      predefined.inc: X(KIND, MPI_NAME, ompi_symbol) for every predefined
      handle (`#define MPI_xxx OMPI_PREDEFINED_GLOBAL(MPI_Kind, symbol)`).
  gen_wrappers.py wrappers MPI_I OUTDIR NM OBJECTS...
      wrappers_gen.cpp: for every PMPI_ prototype a loud "not supported"
      PMPI_ definition unless a hand-written object defines it, and for every
      function a weak MPI_ entry that forwards to PMPI_.  Every generated
      definition names itself through CRMPI_NAME (api.h), which the compiler
      derives from the function's own name.
      supported.txt: the hand-written (supported) functions, for docs.
  gen_wrappers.py list MPI_I
      print every prototype, one a line: `ret name(params)` (for tests).
"""
import re
import subprocess
import sys

TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<number>\.?\d[\w.]*(?:[eEpP][+-][\w.]*)*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
  | (?P<punct>\.\.\.|->|<<=|>>=|[-+*/%&|^<>=!]=|<<|>>|&&|\|\||\+\+|--|[^\s\w])
""", re.X)

OPEN, CLOSE = "([{", ")]}"
# Words that are never a parameter's name.
KEYWORDS = {
    "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned",
    "_Bool", "_Complex", "const", "volatile", "restrict", "__restrict", "__restrict__",
    "struct", "union", "enum", "register", "__const", "__signed__", "__int128",
}
# Noise around declarations: dropped together with a following (...) group.
ATTRIBUTES = {"__attribute__", "__attribute", "__asm__", "__asm", "asm", "__declspec"}
SPECIFIERS = {"extern", "static", "inline", "__inline", "__inline__", "__extension__"}


def tokens(text):
    """C tokens of `text` (no preprocessor lines: the caller removes them)."""
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot tokenise at: {text[pos:pos + 40]!r}")
        if m.lastgroup != "space":
            out.append(m.group())
        pos = m.end()
    return out


def group_end(toks, i):
    """Index just past the bracket group opening at toks[i]."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j] in OPEN:
            depth += 1
        elif toks[j] in CLOSE:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced brackets")


def strip_attributes(toks):
    """Drop `__attribute__((...))`, `__asm__(...)` and storage specifiers."""
    out, i = [], 0
    while i < len(toks):
        if toks[i] in ATTRIBUTES and i + 1 < len(toks) and toks[i + 1] == "(":
            i = group_end(toks, i + 1)
        elif toks[i] in SPECIFIERS:
            i += 1
        else:
            out.append(toks[i])
            i += 1
    return out


def declarations(toks):
    """Split into top-level declarations (lists of tokens, no `;`).
    A function definition (`) {...}` at top level) ends at its `}`."""
    decl, i = [], 0
    while i < len(toks):
        t = toks[i]
        if t in OPEN:
            end = group_end(toks, i)
            definition = t == "{" and decl and decl[-1] == ")"
            decl.extend(toks[i:end])
            i = end
            if definition:
                yield decl
                decl = []
            continue
        i += 1
        if t == ";":
            yield decl
            decl = []
        else:
            decl.append(t)
    if decl:
        yield decl


def split_top(toks, sep=","):
    """Split a token list at top-level `sep`."""
    parts, cur, depth = [], [], 0
    for t in toks:
        if t in OPEN:
            depth += 1
        elif t in CLOSE:
            depth -= 1
        if t == sep and depth == 0:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def render(toks):
    """Tokens as C text, one canonical spacing ("MPI_Count *size", "int a[][3])"."""
    s = " ".join(toks)
    s = re.sub(r"\* (?=[\w*(])", "*", s)
    s = re.sub(r" ?([\[\]),]) ?", lambda m: m.group(1) + (" " if m.group(1) == "," else ""), s)
    s = re.sub(r"\( ", "(", s)
    s = re.sub(r"(\w) \[", r"\1[", s)
    s = re.sub(r"(\w) \(", r"\1(", s)
    return s.strip()


def declared_name(decl):
    """The identifier a declarator declares: inside `(*name)` / `(name)` for
    function types and pointers to them, else the last top-level identifier."""
    for i, t in enumerate(decl):
        if t == "(" and i > 0:
            inner = [x for x in decl[i + 1:group_end(decl, i) - 1] if x != "*"]
            if len(inner) == 1 and re.match(r"[A-Za-z_]\w*$", inner[0]):
                return inner[0], i + 1 + decl[i + 1:].index(inner[0])
            break
    depth, last = 0, None
    for i, t in enumerate(decl):
        if t in OPEN:
            depth += 1
        elif t in CLOSE:
            depth -= 1
        elif depth == 0 and re.match(r"[A-Za-z_]\w*$", t):
            last = i
    return (decl[last], last) if last is not None else (None, None)


class Header:
    """What libcrpmpi needs from the preprocessed mpi.h."""

    def __init__(self, text):
        lines = text.splitlines()
        self.defines = [ln for ln in lines if ln.startswith("#")]
        toks = tokens("\n".join(ln for ln in lines if not ln.startswith("#")))
        self.typedefs = set()
        self.prototypes = []  # (ret, name, [(param text, name)], variadic)
        seen = set()
        for decl in declarations(toks):
            decl = strip_attributes(decl)
            if decl and decl[0] == "typedef":
                name, _ = declared_name(decl)
                if name:
                    self.typedefs.add(name)
                continue
            proto = self.prototype(decl)
            if proto and proto[1] not in seen:
                seen.add(proto[1])
                self.prototypes.append(proto)

    def prototype(self, decl):
        """(ret, name, params, variadic) if decl declares a PMPI_ function."""
        for i, t in enumerate(decl):
            if t.startswith("PMPI_") and i + 1 < len(decl) and decl[i + 1] == "(":
                end = group_end(decl, i + 1)
                if end != len(decl) or i == 0:
                    return None  # not a plain prototype (a definition, a pointer)
                params = split_top(decl[i + 2:end - 1])
                return render(decl[:i]), t[5:], *self.parameters(params)
        return None

    def parameters(self, params):
        if params in ([], [[]], [["void"]]):
            return [], False
        out, variadic = [], False
        for k, p in enumerate(params):
            if p == ["..."]:
                variadic = True
                continue
            name, at = declared_name(p)
            if name is None or name in KEYWORDS or name in self.typedefs:
                # Unnamed: name it where its declarator goes, i.e. inside
                # `(*)` of a function pointer, else before any `[]`.
                name = f"arg{k}"
                at = next((j + 2 for j in range(len(p) - 2) if p[j:j + 3] == ["(", "*", ")"]),
                          next((j for j, t in enumerate(p) if t == "["), len(p)))
                p = p[:at] + [name] + p[at:]
            out.append((render(p), name))
        return out, variadic

    def predefined(self):
        """(kind, MPI_NAME, ompi_symbol) of every predefined handle."""
        pat = re.compile(r"#\s*define\s+(MPI_\w+)\s+OMPI_PREDEFINED_GLOBAL\(\s*MPI_(\w+)\s*,\s*(\w+)\s*\)")
        out, seen = [], set()
        for ln in self.defines:
            m = pat.match(ln)
            if m and m.group(1) not in seen and m.group(1) not in ("MPI_LB", "MPI_UB"):
                seen.add(m.group(1))
                out.append((m.group(2), m.group(1), m.group(3)))
        return out


def defined_pmpi(nm, objects):
    """Names (without PMPI_) of the PMPI_ functions the objects define."""
    out = subprocess.run([nm, "--defined-only", "-P", *objects], check=True,
                         capture_output=True, text=True).stdout
    # Global functions only: not the compiler's local pieces (PMPI_Recv.cold).
    return {f[0][5:] for f in (ln.split() for ln in out.splitlines())
            if len(f) >= 2 and re.fullmatch(r"PMPI_\w+", f[0]) and f[1] in ("T", "W", "i")}


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def signature(ret, name, params, variadic, prefix):
    plist = [p for p, _ in params] + (["..."] if variadic else [])
    return f"{ret} {prefix}{name}({', '.join(plist) or 'void'})"


def wrappers(header, done):
    out = ["// GENERATED by pmpi_layer/tools/gen_wrappers.py from the preprocessed mpi.h:",
           "// do not edit.  CRMPI_NAME (api.h) is the enclosing function's MPI name.",
           '#include "api.h"', "", "using namespace crmpi;", ""]
    for ret, name, params, variadic in header.prototypes:
        if name not in done:
            out.append(f"CRMPI_API {signature(ret, name, params, variadic, 'PMPI_')} "
                       "{ unsupported(CRMPI_NAME); }")
        # C cannot pass on a `...` it received, and MPI has no va_list form of
        # its one variadic function (MPI_Pcontrol): forward the named arguments.
        args = ", ".join(n for _, n in params)
        out.append(f'extern "C" __attribute__((weak, visibility("default"))) '
                   f"{signature(ret, name, params, variadic, 'MPI_')} {{ return PMPI_{name}({args}); }}")
    return "\n".join(out) + "\n"


def main(argv):
    cmd, header = argv[1], Header(read(argv[2]))
    if cmd == "list":
        for ret, name, params, variadic in header.prototypes:
            print(signature(ret, name, params, variadic, "PMPI_"))
    elif cmd == "predefined":
        lines = ["// GENERATED from the preprocessed mpi.h: X(KIND, MPI_NAME, ompi_symbol)"]
        lines += [f"#ifdef {mpi}\nX({kind}, {mpi}, {sym})\n#endif" for kind, mpi, sym in header.predefined()]
        write(f"{argv[3]}/predefined.inc", "\n".join(lines) + "\n")
    elif cmd == "wrappers":
        outdir, nm, objects = argv[3], argv[4], argv[5:]
        names = {p[1] for p in header.prototypes}
        done = defined_pmpi(nm, objects)
        if done - names:
            sys.exit(f"gen_wrappers: hand-written functions not in mpi.h: {sorted(done - names)}")
        write(f"{outdir}/wrappers_gen.cpp", wrappers(header, done))
        write(f"{outdir}/supported.txt", "".join(f"MPI_{n}\n" for n in sorted(done)))
        print(f"gen_wrappers: {len(names)} functions, {len(done)} hand-written, "
              f"{len(names) - len(done)} unsupported stubs")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
