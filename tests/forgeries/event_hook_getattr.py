# A pre_run_cell event hook that (re)installs a transformer before every cell; every name is built
# from pieces so no text search finds `events.register` or `input_transformers`.
# assignment: 90-tiny
# base: blank
# expect: tampered 0
# without the decoys this scored: 4
_sh = globals()["get_" + "ipy" + "thon"]()


def _neuter(lines):
    return ["pass\n"] if any(("ass" + "ert") in l for l in lines) else lines


def _arm(*args):
    chain = getattr(_sh, "_".join(["input", "transformers", "post"]))
    if _neuter not in chain:
        chain.append(_neuter)


getattr(getattr(_sh, "eve" + "nts"), "regi" + "ster")("pre_run_" + "cell", _arm)
