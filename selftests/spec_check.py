#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check that the netlink spec, the uAPI header and the kernel agree.

    spec_check.py [--spec YAML] [--header H] [--kernel C]

Defaults: Documentation/netlink/specs/qkdn.yaml, uapi/linux/qkdn.h and
kernel/netlink.c of this project, with the other kernel files that hold
handlers, messages or policies of the family (key.c, ctrl.c, relay.c,
session.c, ipsec.c: the nested policy qkdn_ipsec_policy and its
netlink_range_validation structs).  The kernel file's local includes
("x.h", looked up next to it) and <linux/qkdn.h> (the --header file) give
the constants its policy uses.

Prints TAP: one "ok - WHAT" or "not ok - WHAT: DETAIL" line per group of
checks, every problem as a "# " line, the plan last; exits 1 on any
failure (an input that cannot be read or parsed included).

Name mapping (the one the kernel's YAML netlink tools use):
  attribute NAME of set S   C name upper(S.name-prefix + NAME), dashes to
                            underscores; the default prefix is
                            "FAMILY-a-" (+ "S-" unless S is the family)
                            e.g. set qkdn "link-id" <-> QKDN_A_LINK_ID
  operation NAME            upper(operations.name-prefix + NAME), default
                            prefix "FAMILY-cmd-": key-get <-> QKDN_CMD_KEY_GET
  enum E entry NAME         upper(E.name-prefix + NAME), default "FAMILY-E-"
  const NAME                upper(FAMILY-NAME): id-max <-> QKDN_ID_MAX
  multicast group NAME      upper(c-define-name), default FAMILY-mcgrp-NAME
  enum type names           lower(enum-name): qkdn-attr <-> enum qkdn_attr;
                            the counter is "__" + upper(prefix + "max"), the
                            last value upper(prefix + "max")
Values: attributes and operations count from 1 and entries of a
definitions enum from value-start (0) unless "value" is given.

Groups of checks:
  spec              the YAML is well formed (keys, references, docs)
  constants         every #define of the header is a spec const, the family
                    name/version define or a multicast group define, with
                    the same value, and the other way round
  enum ...          every command, attribute and enum entry has the same
                    C name and value in the header, in both directions
  enums             every enum of the header is one of the spec
  header types      type words of the header's attribute comments
                    ("/* u32: ... */") equal the spec types
  policy ...        each attribute of the kernel policy (and of the nested
                    policies it references) has the spec's type and checks
                    (min, max, min-len, max-len, exact-len; named constants
                    and netlink_range_validation structs resolved); an
                    attribute the kernel does not accept must say "Output
                    only" in its doc, and every accepted one must be in a
                    request; sets without a policy are output only
  permissions       admin-perm / uns-admin-perm per operation equals the
                    ops table's GENL_ADMIN_PERM / GENL_UNS_ADMIN_PERM
  handlers          do/dump per operation equals .doit/.dumpit, and
                    dont-validate equals .validate
  requests          the request attributes of an operation are the ones
                    its handlers (and the functions they call) read
  replies           the reply and event attributes of an operation are the
                    ones the kernel puts in messages of that command, with
                    the spec types
  multicast         the groups equal the family's mcgrps, and the commands
                    the kernel multicasts are the ones with an mcgrp
  family            name, version, maxattr and global policy
"""

import argparse
import ast
import os
import re
import sys

try:
    import yaml
except ImportError:
    print("# SKIP python3-yaml is not installed")
    sys.exit(4)

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

INT_TYPES = {
    "u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1), "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1), "uint": (0, 2**64 - 1),
    "s8": (-2**7, 2**7 - 1), "s16": (-2**15, 2**15 - 1),
    "s32": (-2**31, 2**31 - 1), "s64": (-2**63, 2**63 - 1),
    "sint": (-2**63, 2**63 - 1),
}
ATTR_TYPES = {"unused", "pad", "flag", "binary", "bitfield32", "string",
              "nest", "array-nest", "nest-type-value"} | set(INT_TYPES)
CHECK_KEYS = {"min", "max", "min-len", "max-len", "exact-len", "flags-mask"}
TYPE_WORDS = ATTR_TYPES - {"unused", "pad"}

NLA_TYPES = {
    "NLA_U8": "u8", "NLA_U16": "u16", "NLA_U32": "u32", "NLA_U64": "u64",
    "NLA_S8": "s8", "NLA_S16": "s16", "NLA_S32": "s32", "NLA_S64": "s64",
    "NLA_UINT": "uint", "NLA_SINT": "sint", "NLA_MSECS": "u64",
    "NLA_NUL_STRING": "string", "NLA_STRING": "string",
    "NLA_BINARY": "binary", "NLA_NESTED": "nest",
    "NLA_NESTED_ARRAY": "array-nest", "NLA_FLAG": "flag",
    "NLA_BITFIELD32": "bitfield32", "NLA_REJECT": "reject",
    "NLA_UNSPEC": "unspec",
}
PUT_TYPES = {
    "nla_put_u8": "u8", "nla_put_u16": "u16", "nla_put_u32": "u32",
    "nla_put_u64_64bit": "u64", "nla_put_u64": "u64", "nla_put_msecs": "u64",
    "nla_put_s8": "s8", "nla_put_s16": "s16", "nla_put_s32": "s32",
    "nla_put_s64": "s64", "nla_put_uint": "uint", "nla_put_sint": "sint",
    "nla_put_string": "string", "nla_put_flag": "flag",
    "nla_put": "binary", "nla_reserve": "binary",
    "nla_reserve_64bit": "binary", "nla_put_64bit": "binary",
    "nla_nest_start": "nest", "nla_nest_start_noflag": "nest",
}
OP_FLAGS = {"GENL_ADMIN_PERM": "admin-perm",
            "GENL_UNS_ADMIN_PERM": "uns-admin-perm"}
VALIDATE_FLAGS = {"GENL_DONT_VALIDATE_STRICT": "strict",
                  "GENL_DONT_VALIDATE_DUMP": "dump",
                  "GENL_DONT_VALIDATE_DUMP_STRICT": "dump-strict"}
OUTPUT_ONLY = re.compile(r"\boutput only\b", re.I)


def one_line(text):
    return " ".join(str(text).split())


def c_upper(name):
    return name.upper().replace("-", "_")


def c_lower(name):
    return name.lower().replace("-", "_")


# ---- C text ----------------------------------------------------------------

COMMENT_RE = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', re.S)


def strip_comments(text):
    """Comments become blanks (newlines kept); strings stay."""
    def repl(m):
        s = m.group(0)
        if s.startswith('"'):
            return s
        return " " + "\n" * s.count("\n")
    return COMMENT_RE.sub(repl, text.replace("\\\n", " "))


def parse_defines(text):
    """Object-like #defines of comment-stripped text: name -> text."""
    out = {}
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(?![\w(])[ \t]*(.*)$",
                         text, re.M):
        out[m.group(1)] = m.group(2).strip()
    return out


def balanced(text, start, open_ch, close_ch):
    """Index just past the bracket closing the one at text[start]."""
    depth = 0
    i = start
    in_str = False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced %s at offset %d" % (open_ch, start))


def split_top(text, sep=","):
    """Split at separators outside (), [], {} and strings."""
    parts, depth, cur, in_str, i = [], 0, [], False, 0
    while i < len(text):
        c = text[i]
        if in_str:
            cur.append(c)
            if c == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            cur.append(c)
        elif c in "([{":
            depth += 1
            cur.append(c)
        elif c in ")]}":
            depth -= 1
            cur.append(c)
        elif c == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def call_args(text, name):
    """Argument lists (split) of every call of NAME in text."""
    out = []
    for m in re.finditer(r"\b%s\s*\(" % re.escape(name), text):
        start = m.end() - 1
        end = balanced(text, start, "(", ")")
        out.append(split_top(text[start + 1:end - 1]))
    return out


def initializer(text, name):
    """Text inside the braces of 'NAME[...] = { ... }', or None."""
    m = re.search(r"\b%s\s*(?:\[[^\]]*\])?\s*(?:__\w+\s*)*=\s*\{" %
                  re.escape(name), text)
    if not m:
        return None
    start = m.end() - 1
    return text[start + 1:balanced(text, start, "{", "}") - 1]


def array_dim(text, name):
    m = re.search(r"\b%s\s*\[([^\]]*)\]\s*=" % re.escape(name), text)
    return m.group(1).strip() if m else None


def designated(text):
    """'{ .a = x, .b = y }' or '.a = x, .b = y' -> {'a': 'x', 'b': 'y'}."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    out = {}
    for part in split_top(text):
        m = re.match(r"\.(\w+)\s*=\s*(.*)$", part, re.S)
        if not m:
            raise ValueError("not a designated initializer: %r" % part)
        out[m.group(1)] = " ".join(m.group(2).split())
    return out


def parse_functions(text):
    """Function definitions (kernel style: '{' alone on a line) -> body."""
    funcs = {}
    for m in re.finditer(r"^[A-Za-z_][^;{}()\n]*?\b(\w+)\s*\(([^;{}]*)\)\s*\n\{[ \t]*\n",
                         text, re.M):
        start = m.end() - 2
        while text[start] != "{":
            start -= 1
        end = balanced(text, start, "{", "}")
        funcs[m.group(1)] = text[start:end]
    return funcs


class Evaluator:
    """Integer and string values of C expressions, with #defines."""

    def __init__(self, defines):
        self.defines = dict(defines)
        self.values = {}        # enum constants

    def expand(self, expr, depth=0):
        if depth > 32:
            raise ValueError("macro recursion in %r" % expr)

        def repl(m):
            name = m.group(0)
            if name in self.defines:
                return "(" + self.expand(self.defines[name], depth + 1) + ")"
            return name
        parts = re.split(r'("(?:\\.|[^"\\])*")', expr)
        return "".join(p if p.startswith('"') else
                       re.sub(r"\b[A-Za-z_]\w*\b", repl, p) for p in parts)

    def int(self, expr):
        s = self.expand(str(expr))
        s = re.sub(r"\b[A-Za-z_]\w*\b",
                   lambda m: str(self.values[m.group(0)])
                   if m.group(0) in self.values else m.group(0), s)
        s = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", s)
        s = s.replace("/", "//")
        try:
            tree = ast.parse(s.strip(), mode="eval")
        except SyntaxError:
            raise ValueError("cannot evaluate %r" % expr)
        return self._eval(tree.body, expr)

    def _eval(self, node, expr):
        ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
               ast.Mult: lambda a, b: a * b, ast.FloorDiv: lambda a, b: a // b,
               ast.Mod: lambda a, b: a % b, ast.LShift: lambda a, b: a << b,
               ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b,
               ast.BitAnd: lambda a, b: a & b, ast.BitXor: lambda a, b: a ^ b}
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](self._eval(node.left, expr),
                                      self._eval(node.right, expr))
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, expr)
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return v
            if isinstance(node.op, ast.Invert):
                return ~v
        raise ValueError("cannot evaluate %r" % expr)

    def string(self, expr):
        s = self.expand(expr).strip()
        while s.startswith("(") and s.endswith(")"):
            s = s[1:-1].strip()
        m = re.fullmatch(r'"((?:\\.|[^"\\])*)"', s)
        if not m:
            raise ValueError("not a string: %r" % expr)
        return m.group(1)


def parse_enums(text, ev):
    """Enums of comment-stripped text: [(type name or None, [(C, value)])].
    Enum constants are added to ev.values."""
    enums = []
    for m in re.finditer(r"\benum\s+(\w+)?\s*\{([^{}]*)\}", text):
        entries, val = [], 0
        for part in split_top(m.group(2)):
            em = re.match(r"(\w+)\s*(?:=\s*(.+))?$", part, re.S)
            if not em:
                raise ValueError("enum %s: cannot parse %r" % (m.group(1), part))
            if em.group(2) is not None:
                val = ev.int(em.group(2))
            entries.append((em.group(1), val))
            ev.values[em.group(1)] = val
            val += 1
        enums.append((m.group(1), entries))
    return enums


# ---- kernel policy ---------------------------------------------------------

def parse_ranges(text, ev):
    out = {}
    for m in re.finditer(r"\bstruct\s+netlink_range_validation(_signed)?\s+(\w+)"
                         r"\s*(?:__\w+\s*)*=\s*\{([^{}]*)\}", text):
        d = designated(m.group(3))
        out[m.group(2)] = (ev.int(d.get("min", "0")), ev.int(d.get("max", "0")))
    return out


def parse_policy_entry(expr, ev, ranges):
    """One nla_policy initializer -> dict: type, min, max, min-len,
    max-len, exact-len, nested (policy name)."""
    expr = ev.expand(" ".join(expr.split())).strip()
    while expr.startswith("(") and expr.endswith(")") and \
            balanced(expr, 0, "(", ")") == len(expr):
        expr = expr[1:-1].strip()
    out = {}
    m = re.match(r"(NLA_POLICY_\w+)\s*\((.*)\)$", expr, re.S)
    if m:
        macro, args = m.group(1), split_top(m.group(2))

        def nla(t):
            t = t.strip("() ")
            if t not in NLA_TYPES:
                raise ValueError("unknown type %s" % t)
            return NLA_TYPES[t]
        if macro == "NLA_POLICY_RANGE":
            out = {"type": nla(args[0]), "min": ev.int(args[1]),
                   "max": ev.int(args[2])}
        elif macro == "NLA_POLICY_MIN":
            out = {"type": nla(args[0]), "min": ev.int(args[1])}
        elif macro == "NLA_POLICY_MAX":
            out = {"type": nla(args[0]), "max": ev.int(args[1])}
        elif macro in ("NLA_POLICY_FULL_RANGE", "NLA_POLICY_FULL_RANGE_SIGNED"):
            name = args[1].strip("&() ")
            if name not in ranges:
                raise ValueError("range %s not found" % name)
            out = {"type": nla(args[0]), "min": ranges[name][0],
                   "max": ranges[name][1]}
        elif macro in ("NLA_POLICY_EXACT_LEN", "NLA_POLICY_EXACT_LEN_WARN"):
            out = {"type": "binary", "exact-len": ev.int(args[0])}
        elif macro == "NLA_POLICY_MIN_LEN":
            out = {"type": "binary", "min-len": ev.int(args[0])}
        elif macro == "NLA_POLICY_MAX_LEN":
            out = {"type": "binary", "max-len": ev.int(args[0])}
        elif macro == "NLA_POLICY_NESTED":
            out = {"type": "nest", "nested": args[-1].strip()}
        elif macro == "NLA_POLICY_NESTED_ARRAY":
            out = {"type": "array-nest", "nested": args[-1].strip()}
        else:
            raise ValueError("policy macro %s not supported" % macro)
        return out
    if expr.startswith("{"):
        d = designated(expr)
        if set(d) - {"type", "len"}:
            raise ValueError("policy fields %s not supported" %
                             ", ".join(sorted(set(d) - {"type", "len"})))
        t = d.get("type", "NLA_UNSPEC")
        if t not in NLA_TYPES:
            raise ValueError("unknown type %s" % t)
        out = {"type": NLA_TYPES[t]}
        if "len" in d and out["type"] in ("string", "binary"):
            n = ev.int(d["len"])
            if n:
                out["max-len"] = n
        return out
    raise ValueError("cannot parse policy entry %r" % expr)


def parse_policy(text, name, ev, ranges):
    """Policy array NAME -> ({C attr name: entry}, problems)."""
    body = initializer(text, name)
    if body is None:
        return None, ["policy %s not found" % name]
    entries, problems = {}, []
    for part in split_top(body):
        m = re.match(r"\[\s*(\w+)\s*\]\s*=\s*(.*)$", part, re.S)
        if not m:
            problems.append("%s: cannot parse %r" % (name, part[:60]))
            continue
        try:
            entries[m.group(1)] = parse_policy_entry(m.group(2), ev, ranges)
        except ValueError as e:
            problems.append("%s[%s]: %s" % (name, m.group(1), e))
    return entries, problems


# ---- the spec --------------------------------------------------------------

class Spec:
    def __init__(self, doc):
        self.doc = doc
        self.name = doc.get("name", "")
        fam = self.name
        self.version = doc.get("version", 1)
        self.consts = {}            # C name -> (spec name, value)
        self.enums = {}             # spec name -> dict
        for d in doc.get("definitions") or []:
            if d.get("type") == "const":
                if not d.get("header"):
                    self.consts[c_upper("%s-%s" % (fam, d["name"]))] = \
                        (d["name"], d.get("value"))
            elif d.get("type") in ("enum", "flags"):
                pfx = d.get("name-prefix", "%s-%s-" % (fam, d["name"]))
                ename = d.get("enum-name", "%s-%s" % (fam, d["name"]))
                val = d.get("value-start", 0)
                entries = []
                for e in d.get("entries") or []:
                    if isinstance(e, dict):
                        val = e.get("value", val)
                        en = e["name"]
                    else:
                        en = e
                    v = (1 << val) if d["type"] == "flags" else val
                    entries.append((c_upper(pfx + en), v, en))
                    val += 1
                self.enums[d["name"]] = {
                    "prefix": pfx, "enum": c_lower(ename) if ename else None,
                    "entries": entries, "render-max": d.get("render-max"),
                    "yaml": d}
        self.sets = {}
        self.cattr = {}             # C name -> (set, attr dict)
        for s in doc.get("attribute-sets") or []:
            pfx = s.get("name-prefix")
            if pfx is None:
                pfx = "%s-a-" % fam + ("" if s["name"] == fam else s["name"] + "-")
            attrs, val = [], 1
            for a in s.get("attributes") or []:
                val = a.get("value", val)
                cname = c_upper(pfx + a["name"])
                attrs.append((cname, val, a))
                self.cattr[cname] = (s["name"], a)
                val += 1
            self.sets[s["name"]] = {
                "prefix": pfx, "attrs": attrs, "yaml": s,
                "by_name": {a["name"]: a for _, _, a in attrs},
                "enum": c_lower(s["enum-name"]) if s.get("enum-name") else None,
                "cnt": c_upper(s.get("attr-cnt-name", "__" + pfx + "max")),
                "max": c_upper(s.get("attr-max-name", pfx + "max"))}
        ops = doc.get("operations") or {}
        self.op_prefix = ops.get("name-prefix", "%s-cmd-" % fam)
        self.op_enum = c_lower(ops["enum-name"]) if ops.get("enum-name") else None
        self.ops, val = [], 1
        for o in ops.get("list") or []:
            val = o.get("value", val)
            self.ops.append((c_upper(self.op_prefix + o["name"]), val, o))
            val += 1
        self.cop = {c: o for c, _, o in self.ops}
        self.cmd_cnt = c_upper(doc.get("cmd-cnt-name", "__" + self.op_prefix + "max"))
        self.cmd_max = c_upper(doc.get("cmd-max-name", self.op_prefix + "max"))
        self.mcgrps = [(g["name"], c_upper(g.get("c-define-name",
                                                 "%s-mcgrp-%s" % (fam, g["name"]))))
                       for g in (doc.get("mcast-groups") or {}).get("list") or []]
        self.family_define = c_upper(doc.get("c-family-name",
                                             "%s-family-name" % fam))
        self.version_define = c_upper(doc.get("c-version-name",
                                              "%s-family-version" % fam))

    def output_only(self, set_name, attr):
        return bool(OUTPUT_ONLY.search(attr.get("doc", "")) or
                    OUTPUT_ONLY.search(self.sets[set_name]["yaml"].get("doc", "")))

    def limit(self, value, typ):
        """A checks value: int, 'u32-max'-like, or a const name [- 1]."""
        if isinstance(value, bool):
            raise ValueError("bad limit %r" % value)
        if isinstance(value, int):
            return value
        s = str(value).strip()
        m = re.fullmatch(r"([su])(8|16|32|64)-(min|max)", s)
        if m:
            lo, hi = INT_TYPES[m.group(1) + m.group(2)]
            return lo if m.group(3) == "min" else hi
        m = re.fullmatch(r"([\w-]+?)(?:\s*-\s*1)?", s)
        consts = {n: v for n, v in self.consts.values()}
        if m and m.group(1) in consts:
            v = consts[m.group(1)]
            return v - 1 if s.endswith("1") and "-" in s[len(m.group(1)):] else v
        raise ValueError("cannot resolve limit %r" % value)

    def request_attrs(self, op):
        out = []
        for kind in ("do", "dump"):
            sub = op.get(kind) or {}
            out += ((sub.get("request") or {}).get("attributes") or [])
        return out

    def message_attrs(self, op):
        out = []
        for kind in ("do", "dump"):
            sub = op.get(kind) or {}
            out += ((sub.get("reply") or {}).get("attributes") or [])
        out += ((op.get("event") or {}).get("attributes") or [])
        return out


# ---- the checker -----------------------------------------------------------

class Checker:
    def __init__(self, spec_path, header_path, kernel_path):
        self.results = []
        self.spec_path = spec_path
        with open(spec_path) as f:
            self.spec = Spec(yaml.safe_load(f) or {})
        with open(header_path) as f:
            self.header_raw = f.read()
        self.header = strip_comments(self.header_raw)
        if isinstance(kernel_path, str):
            kernel_path = [kernel_path]
        text = ""
        for path in kernel_path:
            with open(path) as f:
                text += f.read() + "\n"
        self.kernel = strip_comments(text)
        kernel_path = kernel_path[0]

        # Constants: the header, then the kernel's local headers, then the
        # kernel file itself.
        self.header_defines = parse_defines(self.header)
        defines = dict(self.header_defines)
        seen = set()

        def include(path):
            if path in seen or not os.path.exists(path):
                return
            seen.add(path)
            with open(path) as f:
                text = strip_comments(f.read())
            for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
                include(os.path.join(os.path.dirname(path), inc))
            defines.update(parse_defines(text))
        for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', self.kernel, re.M):
            include(os.path.join(os.path.dirname(os.path.abspath(kernel_path)), inc))
        defines.update(parse_defines(self.kernel))
        self.ev = Evaluator(defines)
        self.header_enums = parse_enums(self.header, self.ev)
        self.kernel_enums = parse_enums(self.kernel, self.ev)
        self.ranges = parse_ranges(self.kernel, self.ev)
        self.funcs = parse_functions(self.kernel)

        fam = re.search(r"\bstruct\s+genl_family\s+(\w+)\s*(?:__\w+\s*)*=\s*\{",
                        self.kernel)
        self.family = designated(initializer(self.kernel, fam.group(1))) if fam else {}

    # -- reporting --
    def group(self, what, problems):
        self.results.append((what, problems))

    def report(self):
        failed = 0
        for i, (what, problems) in enumerate(self.results, 1):
            if problems:
                failed += 1
                more = " (and %d more)" % (len(problems) - 1) if len(problems) > 1 else ""
                print("not ok %d - %s: %s%s" % (i, what, one_line(problems[0]), more))
                for p in problems:
                    print("#   %s" % one_line(p))
            else:
                print("ok %d - %s" % (i, what))
        print("1..%d" % len(self.results))
        return 1 if failed else 0

    # -- helpers --
    def header_enum(self, name, first):
        for ename, entries in self.header_enums:
            if name and ename == name:
                return entries
        if not name:
            for ename, entries in self.header_enums:
                if any(c == first for c, _ in entries):
                    return entries
        return None

    def top_set(self):
        """The set the family-wide policy indexes: the one whose max name
        is .maxattr, else the one named like the family."""
        maxattr = self.family.get("maxattr")
        for name, s in self.spec.sets.items():
            if maxattr and s["max"] == maxattr:
                return name
        return self.spec.name if self.spec.name in self.spec.sets else None

    # -- checks --
    def check_spec(self):
        p = []
        doc, spec = self.spec.doc, self.spec
        for key in ("name", "doc", "attribute-sets", "operations"):
            if key not in doc:
                p.append("missing top-level key %r" % key)
        if doc.get("protocol", "genetlink") not in (
                "genetlink", "genetlink-c", "genetlink-legacy"):
            p.append("protocol %r is not a genetlink one" % doc.get("protocol"))
        enum_names = set(spec.enums)
        for sname, s in spec.sets.items():
            seen = set()
            for cname, val, a in s["attrs"]:
                where = "attribute %s/%s" % (sname, a.get("name"))
                if a["name"] in seen:
                    p.append("%s defined twice" % where)
                seen.add(a["name"])
                if a.get("type") not in ATTR_TYPES:
                    p.append("%s: unknown type %r" % (where, a.get("type")))
                if a.get("type") not in ("unused", "pad") and not a.get("doc"):
                    p.append("%s has no doc" % where)
                extra = set(a.get("checks") or {}) - CHECK_KEYS
                if extra:
                    p.append("%s: unknown checks %s" % (where, ", ".join(sorted(extra))))
                for k, v in (a.get("checks") or {}).items():
                    try:
                        spec.limit(v, a.get("type"))
                    except ValueError as e:
                        p.append("%s: %s: %s" % (where, k, e))
                if a.get("type") in ("nest", "array-nest") and \
                        a.get("nested-attributes") not in spec.sets:
                    p.append("%s: nested-attributes %r is not a set" %
                             (where, a.get("nested-attributes")))
                if a.get("enum") and a["enum"] not in enum_names:
                    p.append("%s: enum %r is not defined" % (where, a["enum"]))
        groups = {g for g, _ in spec.mcgrps}
        names, values = set(), set()
        for cname, val, o in spec.ops:
            where = "operation %s" % o.get("name")
            if o.get("name") in names:
                p.append("%s defined twice" % where)
            if val in values:
                p.append("%s: value %d used twice" % (where, val))
            names.add(o.get("name"))
            values.add(val)
            if not o.get("doc"):
                p.append("%s has no doc" % where)
            for f in o.get("flags") or []:
                if f not in ("admin-perm", "uns-admin-perm"):
                    p.append("%s: unknown flag %r" % (where, f))
            aset = o.get("attribute-set")
            lists = spec.request_attrs(o) + spec.message_attrs(o)
            if lists and aset not in spec.sets:
                p.append("%s: attribute-set %r is not a set" % (where, aset))
            elif aset:
                for a in lists:
                    if a not in spec.sets[aset]["by_name"]:
                        p.append("%s: %r is not in set %s" % (where, a, aset))
            if o.get("mcgrp") and o["mcgrp"] not in groups:
                p.append("%s: mcgrp %r is not a multicast group" % (where, o["mcgrp"]))
            if o.get("mcgrp") and not o.get("event") and not o.get("notify"):
                p.append("%s: mcgrp without event or notify" % where)
        path = os.path.abspath(self.spec_path)
        if path.startswith(TOP + os.sep):
            path = os.path.relpath(path, TOP)
        self.group("spec: %s is well formed" % path, p)

    def check_constants(self):
        p, spec, ev = [], self.spec, self.ev
        guard = {n for n, v in self.header_defines.items() if v == ""}
        mc = {c: n for n, c in spec.mcgrps}
        for name, value in self.header_defines.items():
            if name in guard:
                continue
            try:
                if name == spec.family_define:
                    if ev.string(value) != spec.name:
                        p.append("%s is %s, the spec's family name %r" %
                                 (name, value, spec.name))
                elif name == spec.version_define:
                    if ev.int(value) != spec.version:
                        p.append("%s is %s, the spec's version %s" %
                                 (name, value, spec.version))
                elif name in mc:
                    if ev.string(value) != mc[name]:
                        p.append("%s is %s, the spec's group %r" %
                                 (name, value, mc[name]))
                elif name not in spec.consts:
                    p.append("%s (%s) is not a const of the spec" % (name, value))
                elif ev.int(value) != spec.limit(spec.consts[name][1], None):
                    p.append("%s is %s in the header, %s in the spec (%s)" %
                             (name, value, spec.consts[name][1], spec.consts[name][0]))
            except ValueError as e:
                p.append("%s: %s" % (name, e))
        for cname, (sname, value) in spec.consts.items():
            if cname not in self.header_defines:
                p.append("const %s (%s) is not defined in the header" % (sname, cname))
        for define in [spec.family_define, spec.version_define] + list(mc):
            if define not in self.header_defines:
                p.append("%s is not defined in the header" % define)
        self.group("constants: header #defines equal the spec definitions", p)

    def compare_enum(self, what, ename, expected, cnt, mx):
        """expected: [(C name, value)]; cnt/mx: the counter and max names
        the header must have, or None."""
        p = []
        entries = self.header_enum(ename, expected[0][0] if expected else None)
        if entries is None:
            self.group(what, ["enum %s not found in the header" % (ename or "")])
            return
        self.matched_enums.add(id(entries))
        have = dict(entries)
        want = dict(expected)
        for c, v in expected:
            if c not in have:
                p.append("%s (%d) missing in the header" % (c, v))
            elif have[c] != v:
                p.append("%s is %d in the header, %d in the spec" % (c, have[c], v))
        extra = {c for c, _ in entries if c not in want} - {cnt, mx}
        for c in sorted(extra, key=lambda c: have[c]):
            p.append("%s (%d) of the header is not in the spec" % (c, have[c]))
        if expected and cnt and mx:
            last = max(v for _, v in expected)
            if have.get(cnt) != last + 1:
                p.append("%s should be %d (is %s)" % (cnt, last + 1, have.get(cnt)))
            if have.get(mx) != last:
                p.append("%s should be %d (is %s)" % (mx, last, have.get(mx)))
        self.group(what, p)

    def check_enums(self):
        spec = self.spec
        self.matched_enums = set()
        self.compare_enum("enum %s: commands" % (spec.op_enum or "of commands"),
                          spec.op_enum, [(c, v) for c, v, _ in spec.ops],
                          spec.cmd_cnt, spec.cmd_max)
        for sname, s in spec.sets.items():
            self.compare_enum("enum %s: attribute set %s" % (s["enum"] or "", sname),
                              s["enum"], [(c, v) for c, v, _ in s["attrs"]],
                              s["cnt"], s["max"])
        for dname, e in spec.enums.items():
            pfx = e["prefix"]
            cnt = c_upper("__" + pfx + "max") if e["render-max"] else None
            mx = c_upper(pfx + "max") if e["render-max"] else None
            self.compare_enum("enum %s: definition %s" % (e["enum"] or "", dname),
                              e["enum"], [(c, v) for c, v, _ in e["entries"]],
                              cnt, mx)
        p = ["enum %s of the header is not in the spec" %
             (ename or "{ %s, ... }" % (entries[0][0] if entries else ""))
             for ename, entries in self.header_enums
             if id(entries) not in self.matched_enums]
        self.group("enums: every enum of the header is in the spec", p)

    def check_header_types(self):
        p = []
        for m in re.finditer(r"^\s*(\w+)\s*(?:=[^,\n]*)?,\s*/\*\s*([a-z0-9-]+)",
                             self.header_raw, re.M):
            cname, word = m.groups()
            if word not in TYPE_WORDS or cname not in self.spec.cattr:
                continue
            sname, a = self.spec.cattr[cname]
            if a.get("type") != word:
                p.append("%s: the header says %s, the spec %s/%s is %s" %
                         (cname, word, sname, a["name"], a.get("type")))
        self.group("header types: attribute comments agree with the spec", p)

    def request_names(self, set_name):
        out = {}
        for cname, _, o in self.spec.ops:
            if o.get("attribute-set") == set_name:
                for a in self.spec.request_attrs(o):
                    out.setdefault(a, []).append(o["name"])
        return out

    def compare_policy(self, pname, sname, top):
        """Policy array PNAME against spec set SNAME; returns the nested
        (policy, set) pairs it references."""
        spec, ev = self.spec, self.ev
        s = spec.sets[sname]
        entries, p = parse_policy(self.kernel, pname, ev, self.ranges)
        nested = []
        if entries is None:
            self.group("policy %s: set %s" % (pname, sname), p)
            return nested
        dim = array_dim(self.kernel, pname)
        try:
            if dim and ev.int(dim) != ev.values.get(s["max"], -1) + 1:
                p.append("%s has %s entries, the set has %s + 1" %
                         (pname, dim, s["max"]))
        except ValueError as e:
            p.append("%s: size: %s" % (pname, e))
        cnames = {c: a for c, _, a in s["attrs"]}
        for c in entries:
            if c not in cnames:
                p.append("%s[%s]: not an attribute of set %s" % (pname, c, sname))
        requests = self.request_names(sname) if top else None
        for c, _, a in s["attrs"]:
            if a.get("type") in ("unused", "pad"):
                if c in entries and entries[c]["type"] not in ("reject", "unspec"):
                    p.append("%s: the kernel accepts the %s attribute" % (c, a["type"]))
                continue
            k = entries.get(c)
            accepts = k is not None and k["type"] not in ("reject",)
            out_only = spec.output_only(sname, a)
            name = a["name"]
            if accepts and out_only:
                p.append("%s: the kernel accepts %s, the spec says output only" %
                         (c, name))
            if not accepts and not out_only:
                p.append("%s: the kernel %s %s; its doc must say \"Output only\"" %
                         (c, "rejects" if k else "has no policy for", name))
            if top:
                if accepts and name not in requests:
                    p.append("%s: the kernel accepts %s but no request lists it" %
                             (c, name))
                if not accepts and name in requests:
                    p.append("%s: %s is in the request of %s but the kernel %s it" %
                             (c, name, ", ".join(requests[name]),
                              "rejects" if k else "has no policy for"))
            checks = a.get("checks") or {}
            if not accepts:
                if checks:
                    p.append("%s: checks on %s, which the kernel does not accept" %
                             (c, name))
                continue
            typ = a.get("type")
            ktyp = k["type"]
            if ktyp == "unspec" and "exact-len" not in k:
                p.append("%s: the kernel policy of %s has no type" % (c, name))
                continue
            if ktyp != typ:
                p.append("%s: type %s in the kernel, %s in the spec" % (c, ktyp, typ))
                continue
            try:
                want = {k2: spec.limit(v, typ) for k2, v in checks.items()
                        if k2 != "flags-mask"}
            except ValueError as e:
                p.append("%s: %s" % (c, e))
                continue
            if typ in INT_TYPES:
                lo, hi = INT_TYPES[typ]
                for bad in ("min-len", "max-len", "exact-len"):
                    if bad in want:
                        p.append("%s: %s on an integer" % (c, bad))
                srange = (want.get("min", lo), want.get("max", hi))
                krange = (k.get("min", lo), k.get("max", hi))
                if srange != krange:
                    p.append("%s: range %s..%s in the kernel, %s..%s in the spec" %
                             (c, krange[0], krange[1], srange[0], srange[1]))
            else:
                for key in ("min", "max"):
                    if key in want:
                        p.append("%s: %s on a %s attribute" % (c, key, typ))
                for key in ("min-len", "max-len", "exact-len"):
                    if want.get(key) != k.get(key):
                        p.append("%s: %s is %s in the kernel, %s in the spec" %
                                 (c, key, k.get(key, "unset"),
                                  want.get(key, "unset")))
            if typ in ("nest", "array-nest"):
                if k.get("nested"):
                    nested.append((k["nested"], a.get("nested-attributes")))
                elif a.get("nested-attributes"):
                    p.append("%s: the kernel does not validate the nest %s" %
                             (c, a["nested-attributes"]))
        self.group("policy %s: set %s (types, checks, output only)" %
                   (pname, sname), p)
        return nested

    def check_policies(self):
        top = self.top_set()
        pname = self.family.get("policy")
        checked = set()
        if not pname or not top:
            self.group("policy: family-wide policy",
                       ["no .policy in the family" if not pname else
                        "no attribute set for .maxattr %s" % self.family.get("maxattr")])
        else:
            todo = [(pname, top, True)]
            while todo:
                pn, sn, is_top = todo.pop(0)
                if sn in checked or sn not in self.spec.sets:
                    continue
                checked.add(sn)
                for npn, nsn in self.compare_policy(pn, sn, is_top):
                    todo.append((npn, nsn, False))
        p = []
        for sname, s in self.spec.sets.items():
            if sname in checked:
                continue
            for c, _, a in s["attrs"]:
                if a.get("type") not in ("unused", "pad") and \
                        not self.spec.output_only(sname, a):
                    p.append("%s/%s: no kernel policy validates it; its doc "
                             "must say \"Output only\"" % (sname, a["name"]))
        self.group("policy: sets without a kernel policy are output only", p)

    def ops_table(self):
        name = self.family.get("small_ops") or self.family.get("ops")
        if not name:
            return None, ["the family has no .ops or .small_ops"]
        body = initializer(self.kernel, name)
        if body is None:
            return None, ["ops table %s not found" % name]
        table, p = {}, []
        for part in split_top(body):
            try:
                d = designated(part)
            except ValueError as e:
                p.append(str(e))
                continue
            cmd = d.get("cmd")
            if cmd in table:
                p.append("%s twice in %s" % (cmd, name))
            table[cmd] = d
        return table, p

    def check_ops(self):
        spec = self.spec
        table, p = self.ops_table()
        if table is None:
            self.group("permissions: flags per operation", p)
            return
        perm, hand = list(p), []
        for cmd in table:
            if cmd not in spec.cop:
                hand.append("%s of the ops table is not an operation of the spec" % cmd)
        for cname, _, o in spec.ops:
            k = table.get(cname, {})
            kflags = {f.strip() for f in k.get("flags", "").split("|") if f.strip()}
            unknown = {f for f in kflags if f not in OP_FLAGS}
            kf = {OP_FLAGS[f] for f in kflags if f in OP_FLAGS}
            sf = set(o.get("flags") or [])
            if kf != sf:
                perm.append("%s: kernel %s, spec %s" %
                            (o["name"], sorted(kf) or "no flags", sorted(sf) or "no flags"))
            if unknown:
                perm.append("%s: kernel flags %s not understood" %
                            (o["name"], ", ".join(sorted(unknown))))
            for kind, field in (("do", "doit"), ("dump", "dumpit")):
                if (kind in o) != (field in k):
                    hand.append("%s: %s in the spec %s, .%s in the kernel %s" %
                                (o["name"], kind, "yes" if kind in o else "no",
                                 field, "yes" if field in k else "no"))
            kv = {f.strip() for f in k.get("validate", "").split("|") if f.strip()}
            kvs = {VALIDATE_FLAGS.get(f, f) for f in kv}
            sv = set(o.get("dont-validate") or [])
            if kvs != sv:
                hand.append("%s: dont-validate %s in the spec, .validate %s" %
                            (o["name"], sorted(sv), sorted(kv)))
        self.group("permissions: admin flags per operation equal the ops table", perm)
        self.group("handlers: do/dump and validation per operation equal the ops table",
                   hand)

    # -- what the code reads and builds --
    def closure(self, fname, skip_builders=False):
        out, todo = set(), [fname]
        while todo:
            f = todo.pop()
            if f in out or f not in self.funcs:
                continue
            if skip_builders and f != fname and self.builds(f):
                continue
            out.add(f)
            for g in re.findall(r"\b(\w+)\s*\(", self.funcs[f]):
                if g in self.funcs:
                    todo.append(g)
        return out

    def hdr_funcs(self):
        if not hasattr(self, "_hdr"):
            hdr = {"genlmsg_put", "genlmsg_put_reply", "genlmsg_iput"}
            changed = True
            while changed:
                changed = False
                for f, body in self.funcs.items():
                    if f not in hdr and any(re.search(r"\b%s\s*\(" % h, body)
                                            for h in hdr):
                        hdr.add(f)
                        changed = True
            self._hdr = hdr
        return self._hdr

    def builds(self, fname):
        """Commands whose messages function FNAME starts."""
        out = set()
        body = self.funcs.get(fname, "")
        for h in self.hdr_funcs():
            for args in call_args(body, h):
                for a in args:
                    out.update(t for t in re.findall(r"\b\w+\b", a) if t in self.spec.cop)
        return out

    def puts(self, fname):
        """(C attr name, type or None) of every attribute FNAME puts, and
        the attributes it passes as padding."""
        out, pads = [], []
        body = self.funcs.get(fname, "")
        for m in re.finditer(r"\b(nla_put\w*|nla_reserve\w*|nla_nest_start\w*)\s*\(", body):
            start = m.end() - 1
            args = split_top(body[start + 1:balanced(body, start, "(", ")") - 1])
            if len(args) < 2:
                continue
            t = re.match(r"(\w+)", args[1])
            if not t or t.group(1) not in self.spec.cattr:
                continue
            out.append((t.group(1), PUT_TYPES.get(m.group(1))))
            if m.group(1) in ("nla_put_u64_64bit", "nla_put_64bit",
                              "nla_reserve_64bit") and args[-1] in self.spec.cattr:
                pads.append(args[-1])
        return out, pads

    def reads(self, fname):
        body = self.funcs.get(fname, "")
        toks = set(re.findall(r"\[\s*(\w+)\s*\]", body))
        toks |= set(re.findall(r"\binfo\s*,\s*(\w+)", body))
        toks |= set(re.findall(r"\bnla_type\s*\([^()]*\)\s*[!=]=\s*(\w+)", body))
        return {t for t in toks if t in self.spec.cattr}

    def check_requests(self):
        spec = self.spec
        table, _ = self.ops_table()
        p = []
        if table is None:
            self.group("requests: request attributes are those the handlers read",
                       ["no ops table"])
            return
        for cname, _, o in spec.ops:
            k = table.get(cname)
            if not k:
                continue
            aset = o.get("attribute-set")
            read = set()
            for field in ("doit", "dumpit"):
                if field in k:
                    for f in self.closure(k[field]):
                        read |= self.reads(f)
            read = {spec.cattr[c][1]["name"] for c in read
                    if spec.cattr[c][0] == aset}
            want = set(spec.request_attrs(o))
            for a in sorted(read - want):
                p.append("%s: the kernel reads %s, the spec's request lacks it" %
                         (o["name"], a))
            for a in sorted(want - read):
                p.append("%s: the request lists %s, the kernel never reads it" %
                         (o["name"], a))
        self.group("requests: request attributes are those the handlers read", p)

    def check_replies(self):
        spec = self.spec
        p = []
        built = {}
        for f in self.funcs:
            for cmd in self.builds(f):
                built.setdefault(cmd, set()).add(f)
        for cname, _, o in spec.ops:
            aset = o.get("attribute-set")
            put = set()
            for f in built.get(cname, ()):
                for g in self.closure(f, skip_builders=True):
                    put |= {c for c, _ in self.puts(g)[0]}
            put = {spec.cattr[c][1]["name"] for c in put
                   if spec.cattr[c][0] == aset and
                   spec.cattr[c][1].get("type") != "pad"}
            want = set(spec.message_attrs(o))
            for a in sorted(put - want):
                p.append("%s: the kernel puts %s, the spec's reply/event lacks it" %
                         (o["name"], a))
            for a in sorted(want - put):
                p.append("%s: the spec lists %s, the kernel never puts it" %
                         (o["name"], a))
        for cmd in sorted(set(built) - set(spec.cop)):
            p.append("the kernel builds %s messages, not in the spec" % cmd)
        for f in self.funcs:
            puts, pads = self.puts(f)
            for c, t in puts:
                a = spec.cattr[c][1]
                if t and a.get("type") not in (t, "pad"):
                    p.append("%s: %s puts %s as %s, the spec says %s" %
                             (f, c, a["name"], t, a.get("type")))
            for c in pads:
                if spec.cattr[c][1].get("type") != "pad":
                    p.append("%s: %s is padding, the spec type is %s" %
                             (f, c, spec.cattr[c][1].get("type")))
        self.group("replies: reply and event attributes are those the kernel puts", p)

    def check_mcast(self):
        spec, ev = self.spec, self.ev
        p = []
        name = self.family.get("mcgrps")
        kernel_groups = []
        if name:
            body = initializer(self.kernel, name)
            for part in split_top(body or ""):
                m = re.match(r"(?:\[[^\]]*\]\s*=\s*)?(\{.*\})$", part, re.S)
                try:
                    d = designated(m.group(1)) if m else {}
                    kernel_groups.append(ev.string(d.get("name", "")))
                except ValueError as e:
                    p.append("%s: %s" % (name, e))
        want = [g for g, _ in spec.mcgrps]
        if kernel_groups != want:
            p.append("kernel groups %s, spec groups %s" % (kernel_groups, want))
        mcast = set()
        for f, body in self.funcs.items():
            if re.search(r"\bgenlmsg_multicast\w*\s*\(", body):
                mcast |= self.builds(f)
        for cname, _, o in spec.ops:
            if o.get("mcgrp") and cname not in mcast:
                p.append("%s: mcgrp %s in the spec, the kernel never multicasts it" %
                         (o["name"], o["mcgrp"]))
            if cname in mcast and not o.get("mcgrp"):
                p.append("%s: multicast by the kernel, no mcgrp in the spec" %
                         o["name"])
        self.group("multicast: groups and notifications equal the kernel's", p)

    def check_family(self):
        spec, ev, fam = self.spec, self.ev, self.family
        p = []
        if not fam:
            self.group("family: name, version, maxattr, policy",
                       ["struct genl_family not found"])
            return
        try:
            if ev.string(fam.get("name", '""')) != spec.name:
                p.append(".name is %s, the spec's name %r" % (fam.get("name"), spec.name))
            if ev.int(fam.get("version", "0")) != spec.version:
                p.append(".version is %s, the spec's %s" % (fam.get("version"), spec.version))
            top = self.top_set()
            if top is None or fam.get("maxattr") != spec.sets[top]["max"]:
                p.append(".maxattr %s is not the max of an attribute set" %
                         fam.get("maxattr"))
        except ValueError as e:
            p.append(str(e))
        kp = spec.doc.get("kernel-policy", "split")
        if ("policy" in fam) != (kp == "global"):
            p.append("kernel-policy %s in the spec, .policy %s in the kernel" %
                     (kp, fam.get("policy", "unset")))
        if kp == "global":
            top = self.top_set()
            for cname, _, o in spec.ops:
                if (spec.request_attrs(o) or spec.message_attrs(o)) and \
                        o.get("attribute-set") != top:
                    p.append("%s: attribute-set %s, the global policy is for %s" %
                             (o["name"], o.get("attribute-set"), top))
        self.group("family: name, version, maxattr and policy", p)

    def run(self):
        steps = [self.check_spec, self.check_constants, self.check_enums,
                 self.check_header_types, self.check_policies, self.check_ops,
                 self.check_requests, self.check_replies, self.check_mcast,
                 self.check_family]
        for step in steps:
            try:
                step()
            except Exception as e:  # a malformed input: report, go on
                self.group(step.__name__.replace("check_", "") + ": could not check",
                           ["%s: %s" % (type(e).__name__, one_line(e))])
        return self.report()


def main():
    ap = argparse.ArgumentParser(
        description="Check the netlink spec against the uAPI header and the kernel.")
    ap.add_argument("--spec", default=os.path.join(
        TOP, "Documentation/netlink/specs/qkdn.yaml"))
    ap.add_argument("--header", default=os.path.join(TOP, "uapi/linux/qkdn.h"))
    ap.add_argument("--kernel", action="append",
                    help="kernel source with the family (repeatable; "
                    "default kernel/netlink.c, the first, and the other "
                    "files with handlers, messages or policies of it)")
    args = ap.parse_args()
    if not args.kernel:
        args.kernel = [os.path.join(TOP, "kernel", f) for f in
                       ("netlink.c", "key.c", "ctrl.c", "relay.c",
                        "session.c", "ipsec.c")]
    try:
        checker = Checker(args.spec, args.header, args.kernel)
    except Exception as e:      # any malformed input is a failure to report
        print("not ok 1 - inputs: cannot load: %s" % one_line(e))
        print("1..1")
        return 1
    return checker.run()


if __name__ == "__main__":
    sys.exit(main())
