"""Forgery does not pay: decoy test cells whose outcome only the grader knows.

The hidden tests run in the student's own interpreter, so one line in an answer cell can neutralise
every later cell (an ``input_transformers_post`` entry that turns cells into ``pass``, an AST
transformer that drops ``assert``, a ``pre_run_cell`` hook, a patched ``isinstance`` or
``numpy.testing.assert_allclose``, an answer object whose ``__eq__`` is always true, a
``sys.settrace`` function that jumps over asserts, a patched ``run_cell``...), and static pattern
matching cannot see through ``exec(base64...)``. Whatever the route, a hook that makes the real tests
pass also acts on cells that look like them, so after nbgrader has put the hidden tests back the
grader plants *decoys* among them, with a per-run secret the kernel never sees before they run:

- **must-fail** decoys, one just before or after each graded test cell: ``assert`` of false terms
  joined by ``or``, written with the checking primitives that cell uses (``==``, ``in``, ``<``,
  ``isinstance``/``len``/``abs``/``all``/..., ``np.isclose``/``np.allclose``/``math.isclose``),
  then *sentinels* comparing the names its visible checks read with a fresh ``object()``, then a
  copy of its visible checks (the text a student has, never run on an honest kernel); plus one
  cell per ``np.testing.*``/``pd.testing.*`` helper it calls, on unequal values. Each raises on an
  honest kernel whatever the answer; one forged primitive is enough to make a decoy pass;
- two **must-pass** decoys that print a digest of the secret: a cell skipped, replaced or replayed
  does not show it;
- one **probe** that lists in-kernel hooks (transformers, event callbacks, trace functions, replaced
  ``run_cell``/``showtraceback``, builtins or testing helpers that are not the originals). A hostile
  kernel can lie to it: it only adds to the ``detail``; the decoys decide.

After execution every decoy is judged from its outputs and execute_reply, then removed, so no
decoy reaches the gradebook, the feedback or the executed copy. Any decoy that misbehaved makes the
notebook ``tampered`` (score 0; the detail says which decoys and how).

Not defended: an attack aimed at this scheme, one that tells decoys from real tests (this module is
public: e.g. a hook that spares cells whose checks only use literals or ``object()``), or that
neutralises only some checks and leaves every decoy alone. Those need someone who studied the
grader; docs/grading.md says so. A decoy also cannot see a *correct-looking* answer computed by
cheating outside the tests (copying a classmate, hard-coding a value).
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import secrets
from dataclasses import dataclass, field

import nbformat

from . import course_files

BEGIN, END = course_files.HIDDEN_BEGIN, course_files.HIDDEN_END
NOT_JUDGED = ("NotExecuted", "DeadKernelError", "NotebookTimeoutError", "CellTimeoutError", "KeyboardInterrupt")

# A false boolean term per builtin a test may call; {a} < {b} are fresh integers.
BUILTIN_TERMS = {
    "isinstance": "isinstance({a}, str)",
    "type": "type({a}) is str",
    "len": "len([{a}, {b}]) == 3",
    "abs": "abs({b}) < 1e-9",
    "all": "all([{a} == {b}])",
    "any": "any([{a} == {b}, {b} < {a}])",
    "sorted": "sorted([{b}, {a}]) == [{b}, {a}]",
    "set": "set([{a}]) == {{{b}}}",
    "frozenset": "frozenset([{a}]) == frozenset([{b}])",
    "hasattr": "hasattr({a}, {attr!r})",
    "callable": "callable({a})",
    "max": "max([{a}, {b}]) == {a}",
    "min": "min([{a}, {b}]) == {b}",
    "sum": "sum([{a}, {b}]) == {a}",
    "round": "round({a}.25) == {b}",
    "float": "float({a}) == {b}",
    "int": "int({a}.5) == {b}",
    "str": "str({a}) == {b!r}",
    "list": "list(({a},)) == [{b}]",
    "tuple": "tuple([{a}]) == ({b},)",
    "dict": "dict(k={a}) == dict(k={b})",
    "bool": "bool(0 * {a})",
    "getattr": "getattr({a}, 'real') == {b}",
    "next": "next(iter([{a}])) == {b}",
    "enumerate": "list(enumerate([{a}])) == [(1, {b})]",
    "zip": "list(zip([{a}], [{b}])) == [({b}, {a})]",
    "range": "list(range({a}, {a} + 1)) == [{b}]",
}
# Numeric comparison helpers, called through the same dotted name the test uses (np.isclose...).
CLOSE_TERMS = {
    "isclose": "{f}({a}, {b})",
    "allclose": "{f}([{a}], [{b}])",
    "array_equal": "{f}([{a}], [{b}])",
    "array_equiv": "{f}([{a}], [{b}])",
}
COMPARE_TERMS = {
    ast.Eq: "{a} == {b}",
    ast.NotEq: "{a} != {a}",
    ast.Lt: "{b} < {a}",
    ast.LtE: "{b} <= {a}",
    ast.Gt: "{a} > {b}",
    ast.GtE: "{a} >= {b}",
    ast.In: "{a} in ({b}, {c})",
    ast.NotIn: "{a} not in ({b}, {a})",
    ast.Is: "[{a}] is None",
    ast.IsNot: "None is not None",
}

PROBE = r"""def _check_env():
    import builtins, json, sys, types
    ip = get_ipython()
    ok_roots = {"IPython", "ipykernel", "matplotlib_inline", "matplotlib", "traitlets", "jupyter_client",
                "comm", "debugpy", "builtins", "tornado", "zmq", "asyncio"}
    def root(f):
        return str(getattr(f, "__module__", None) or getattr(type(f), "__module__", "")).split(".")[0]
    seen = []
    for kind in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
        for f in getattr(ip, kind, []):
            if kind == "ast_transformers" or root(f) not in ok_roots:
                seen.append(f"{kind} has {getattr(f, '__qualname__', type(f).__name__)}")
    for event, callbacks in getattr(ip.events, "callbacks", {}).items():
        for f in callbacks:
            if root(f) not in ok_roots:
                seen.append(f"{event} event hook {getattr(f, '__qualname__', type(f).__name__)}")
    if sys.gettrace() is not None:
        seen.append("sys.settrace is active")
    if sys.getprofile() is not None:
        seen.append("sys.setprofile is active")
    for name in ("run_cell", "run_cell_async", "_run_cell", "run_code", "run_ast_nodes", "transform_cell",
                 "transform_ast", "showtraceback", "_showtraceback", "showsyntaxerror", "should_run_async"):
        f = getattr(ip, name, None)
        if root(getattr(f, "__func__", f)) not in ok_roots:
            seen.append(f"shell.{name} replaced")
    if getattr(ip, "custom_exceptions", ()):
        seen.append("set_custom_exc handler installed")
    if root(sys.excepthook) not in ok_roots | {"sys"}:
        seen.append("sys.excepthook replaced")
    for name in ("isinstance", "len", "abs", "all", "any", "sorted", "set", "hasattr", "type", "print",
                 "max", "min", "sum", "exec", "compile", "__import__", "AssertionError"):
        f = getattr(builtins, name, None)
        if root(f) != "builtins" or not isinstance(f, (types.BuiltinFunctionType, type)):
            seen.append(f"builtins.{name} replaced")
    for mod, names in (("math", ("isclose",)), ("numpy", ("isclose", "allclose", "array_equal")),
                       ("numpy.testing", None), ("pandas.testing", None)):
        m = sys.modules.get(mod)
        if m is None:
            continue
        for name in names or [n for n in dir(m) if n.startswith("assert_")]:
            f = getattr(m, name, None)
            if f is not None and root(f) != mod.split(".")[0]:
                seen.append(f"{mod}.{name} replaced")
    print("{tag}" + json.dumps(seen))
_check_env()
del _check_env"""


@dataclass
class Decoy:
    kind: str  # "fail" | "pass" | "probe"
    what: str  # what it checks, for the detail
    near: str  # the graded cell it sits next to
    expect: str = ""  # the stdout line a "pass" decoy or the probe must print


@dataclass
class Plan:
    decoys: dict[str, Decoy] = field(default_factory=dict)  # cell id -> decoy
    replies: dict[str, str] = field(default_factory=dict)  # cell id -> execute_reply status


@dataclass
class Verdict:
    tampered: bool
    detail: str
    judged: int


# -- reading the real test cells ------------------------------------------------------------------
def _parse(source: str) -> ast.AST | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            return ast.parse(TransformerManager().transform_cell(source))
        except Exception:
            return None


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


@dataclass
class Primitives:
    builtins: set[str] = field(default_factory=set)
    close: dict[str, str] = field(default_factory=dict)  # dotted name -> CLOSE_TERMS key
    helpers: set[str] = field(default_factory=set)  # dotted names of assert_* functions
    compares: set[type] = field(default_factory=set)
    operands: set[str] = field(default_factory=set)  # names / attribute chains compared
    messages: list[str] = field(default_factory=list)


def primitives(source: str) -> Primitives:
    """The checking primitives a test cell uses, read from its AST."""
    p = Primitives()
    tree = _parse(source)
    if tree is None:
        return p
    local = set()  # names bound inside comprehensions, lambdas, functions: not in the user namespace
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            local |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
            local |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name is None:
                continue
            last = name.rsplit(".", 1)[-1]
            if name in BUILTIN_TERMS:
                p.builtins.add(name)
            elif "." in name and last in CLOSE_TERMS:
                p.close[name] = last
            elif "." in name and last.startswith("assert_"):
                p.helpers.add(name)
        elif isinstance(node, ast.Compare):
            p.compares |= {type(op) for op in node.ops}
            for operand in [node.left, *node.comparators]:
                name = _dotted(operand)
                if (
                    name
                    and name.split(".")[0] not in local
                    and name.count(".") <= 2
                    and name not in ("None", "True", "False")
                ):
                    p.operands.add(name)
        elif isinstance(node, ast.Assert) and isinstance(node.msg, ast.Constant) and isinstance(node.msg.value, str):
            p.messages.append(node.msg.value)
    return p


# -- writing decoys ----------------------------------------------------------------------------
class _Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def nums(self) -> dict:
        a = self.rng.randrange(3, 9000)
        b = a + self.rng.randrange(1, 500)
        return {"a": a, "b": b, "c": b + self.rng.randrange(1, 50), "attr": "_" + secrets.token_hex(3)}

    def assert_line(self, groups: list[list[str]], messages: list[str]) -> str:
        """``assert t1 or t2 ...``: terms shuffled within each group, groups kept in order."""
        terms = []
        for group in groups:
            group = list(group)
            self.rng.shuffle(group)
            terms += group
        line = "assert " + " or ".join(terms)
        if messages and self.rng.random() < 0.8:
            line += ", " + repr(self.rng.choice(messages))
        return line

    def cell(self, body: str, visible: str = "", first: str = "") -> str:
        return "\n".join(filter(None, [first, visible, BEGIN, body, END]))


def _helper_call(name: str, n: dict) -> str:
    root = name.split(".")[0]
    last = name.rsplit(".", 1)[-1]
    if "frame" in last:
        return f"{name}({root}.DataFrame({{'x': [{n['a']}]}}), {root}.DataFrame({{'x': [{n['b']}]}}))"
    if "series" in last:
        return f"{name}({root}.Series([{n['a']}]), {root}.Series([{n['b']}]))"
    if "index" in last:
        return f"{name}({root}.Index([{n['a']}]), {root}.Index([{n['b']}]))"
    if last in ("assert_raises", "assert_warns"):
        return f"{name}(ValueError, int, {n['a']})"
    return f"{name}({n['a']}, {n['b']})"  # any exception counts as the expected failure


def _new_cell(source: str, rng: random.Random, used: set[str]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    while True:  # ids in the same style as nbformat's, never one the notebook already has
        cid = f"{rng.getrandbits(32):08x}"
        if cid not in used:
            used.add(cid)
            cell.id = cid
            return cell


def plant(nb: nbformat.NotebookNode, release: nbformat.NotebookNode | None = None, seed: int | None = None) -> Plan:
    """Insert decoy cells among the graded test cells of ``nb`` (in place); return the plan."""
    rng = random.Random(seed) if seed is not None else random.SystemRandom()  # seed: tests only
    w = _Writer(rng)
    plan = Plan()
    used = {c.get("id") for c in nb.cells}
    released = {
        course_files.grade_id(c): c.source
        for c in (release.cells if release is not None else [])
        if course_files.grade_id(c)
    }
    tests = [(i, c) for i, c in enumerate(nb.cells) if course_files.is_check(c)]
    if not tests:
        return plan
    inserts: list[tuple[int, float, nbformat.NotebookNode]] = []  # (index, order, cell): insert before index

    def add(index: int, source: str, decoy: Decoy) -> None:
        cell = _new_cell(source, rng, used)
        plan.decoys[cell.id] = decoy
        inserts.append((index, rng.random(), cell))

    mirrored = False
    for i, cell in tests:
        gid = cell.metadata["nbgrader"]["grade_id"]
        p = primitives(cell.source)
        # What a decoy shows of the test (names, messages) comes from the visible checks only: a hook
        # that prints the cell history must not learn more about the hidden checks from a decoy.
        visible = course_files.visible_part(released.get(gid, cell.source))
        shown = primitives(visible)
        after = i + 1
        # A decoy with every term false on an honest kernel, joined by "or" (one forged primitive is
        # enough to make it pass), in an order where an honest exception cannot hide a forged term:
        # literals only first, then the test's numeric helpers (np.isclose...), then sentinels
        # (names the visible checks compare; a blank answer raises NameError there).
        literal = [COMPARE_TERMS[op].format(**w.nums()) for op in p.compares if op in COMPARE_TERMS]
        literal += [BUILTIN_TERMS[b].format(**w.nums()) for b in p.builtins]
        literal = literal or ["{a} == {b}".format(**w.nums())]
        close = [CLOSE_TERMS[kind].format(f=name, **w.nums()) for name, kind in p.close.items()]
        names = sorted(shown.operands)
        rng.shuffle(names)
        uses = sorted(
            {*(b + "()" for b in p.builtins), *(n + "()" for n in p.close)} | ({"=="} if p.compares else set())
        ) or ["assert"]
        what = (
            "false checks using " + ", ".join(uses) + (f", {', '.join(sorted(names[:3]))} == object()" if names else "")
        )
        add(
            i if rng.random() < 0.5 else after,
            w.cell(w.assert_line([literal, close, [f"{n} == object()" for n in names[:3]]], shown.messages)),
            Decoy("fail", what, gid),
        )
        # For every other test cell (at random, at least one): the visible checks as the student has
        # them, for a hook that looks for that text, behind a false check so that an honest kernel
        # never runs them twice (they may deploy, append, consume).
        if visible.strip() and (rng.random() < 0.5 or (i, cell) == tests[-1] and not mirrored):
            mirrored = True
            add(
                i if rng.random() < 0.5 else after,
                w.cell(
                    "assert {b} < {a}".format(**w.nums()),
                    visible=visible,
                    first=w.assert_line([["{a} == {b}".format(**w.nums())]], shown.messages),
                ),
                Decoy("fail", "a false check followed by a copy of the visible checks", gid),
            )
        # testing helpers (np.testing.*, pd.testing.*) raise rather than return: one decoy each
        for name in sorted(p.helpers):
            add(after, w.cell(_helper_call(name, w.nums())), Decoy("fail", f"{name}() on unequal values", gid))
    # must-pass decoys: one at a random place after the first test, one at the very end
    first, last = tests[0][0], tests[-1][0]
    spots = [rng.randint(first + 1, len(nb.cells)), len(nb.cells)]
    for index in spots:
        token = secrets.token_hex(8)
        digest = hashlib.sha256(token.encode()).hexdigest()[:24]
        add(
            index,
            w.cell(f'print(__import__("hashlib").sha256(b"{token}").hexdigest()[:24])'),
            Decoy("pass", "a cell that must print a digest", _near(nb, index), expect=digest),
        )
    tag = "#" + secrets.token_hex(6) + ":"
    index = rng.randint(last + 1, len(nb.cells))
    add(index, w.cell(PROBE.replace("{tag}", tag)), Decoy("probe", "probe", _near(nb, index), expect=tag))
    for index, _, cell in sorted(inserts, key=lambda t: (t[0], t[1]), reverse=True):
        nb.cells.insert(index, cell)
    return plan


def _near(nb, index: int) -> str:
    for cell in reversed(nb.cells[:index]):
        gid = course_files.grade_id(cell)
        if gid:
            return gid
    return "the start"


def watch(executor, plan: Plan) -> None:
    """Record each cell's execute_reply status (nbgrader's Execute already turns an error reply
    without an error output into one; this keeps the raw status too)."""
    inner = executor.on_cell_executed

    def on_cell_executed(**kw):
        cell = kw.get("cell")
        if cell is not None and cell.get("id") in plan.decoys:
            plan.replies[cell.id] = kw.get("execute_reply", {}).get("content", {}).get("status", "")
        return inner(**kw)

    executor.on_cell_executed = on_cell_executed


# -- judging and removing ------------------------------------------------------------------------
def _stdout(cell) -> str:
    return "".join(
        o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def judge(nb: nbformat.NotebookNode, plan: Plan, executor=None) -> Verdict:
    """Judge every decoy that ran, then remove all decoys from ``nb`` (in place); keep the
    executor's abort cell index pointing at the same real cell."""
    stopped = getattr(executor, "abort_reason", None) is not None
    abort, done = getattr(executor, "abort_cell", None), getattr(executor, "_done", None)
    wrong, probe, judged = [], None, 0
    for i, cell in enumerate(nb.cells):
        decoy = plan.decoys.get(cell.get("id"))
        if decoy is None:
            continue
        if stopped and (i == abort or (done is not None and i not in done)):
            continue  # did not run, or the notebook was stopped in it: says nothing
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(o.get("ename") in NOT_JUDGED for o in errors):
            continue
        raised = bool(errors) or plan.replies.get(cell.id) == "error"
        out = _stdout(cell)
        if decoy.kind == "probe":
            lines = [line for line in out.splitlines() if line.startswith(decoy.expect)]
            try:
                probe = json.loads(lines[-1][len(decoy.expect) :]) if lines else None
            except ValueError:
                probe = None
            if probe is None:
                probe = ["the environment check printed no report"]
            continue
        judged += 1
        if decoy.kind == "fail" and not raised:
            wrong.append(f"{decoy.what} passed (next to {decoy.near})")
        elif decoy.kind == "pass" and (raised or decoy.expect not in out.split()):
            how = "raised an error" if raised else "did not show its output"
            wrong.append(f"{decoy.what} {how} (next to {decoy.near})")
    _strip(nb, plan, executor)
    if not wrong:
        return Verdict(False, "", judged)
    shown = "; ".join(dict.fromkeys(wrong[:4])) + (f"; and {len(wrong) - 4} more" if len(wrong) > 4 else "")
    detail = (
        f"tampered: {len(wrong)} of {judged} decoy test cells planted by the grader did not behave "
        f"as on an honest kernel: {shown}"
    )
    if probe:
        detail += "; the kernel showed: " + ", ".join(map(str, probe[:8]))
    return Verdict(True, detail, judged)


def _strip(nb: nbformat.NotebookNode, plan: Plan, executor=None) -> None:
    keep, new_index = [], {}
    for i, cell in enumerate(nb.cells):
        new_index[i] = len(keep)
        if cell.get("id") not in plan.decoys:
            keep.append(cell)
    nb.cells = keep
    if executor is not None and getattr(executor, "abort_cell", None) is not None:
        executor.abort_cell = min(new_index.get(executor.abort_cell, len(keep) - 1), max(len(keep) - 1, 0))
    count = 0  # execution counts without the gaps the decoys left
    for cell in keep:
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            count += 1
            cell.execution_count = count
            for out in cell.get("outputs", []):
                if out.get("output_type") == "execute_result":
                    out["execution_count"] = count
