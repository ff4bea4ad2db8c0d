# An innocent-looking helper in the first answer cell, called from a later one; the hook is named
# with chr() codes and reached through __import__ and getattr.
# assignment: 90-tiny
# base: blank
# expect: tampered 0
# without the decoys this scored: 4
def check_units(x=None):
    """Normalise units (looks harmless)."""
    name = "".join(
        map(
            chr,
            [
                105,
                110,
                112,
                117,
                116,
                95,
                116,
                114,
                97,
                110,
                115,
                102,
                111,
                114,
                109,
                101,
                114,
                115,
                95,
                99,
                108,
                101,
                97,
                110,
                117,
                112,
            ],
        )
    )
    shell = __import__("IPython").get_ipython()
    getattr(shell, name).insert(0, lambda lines: [l for l in lines if "assert" not in l] or ["pass\n"])
    return x


# --- answer 2
check_units()
