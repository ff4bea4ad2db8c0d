# isinstance and len shadowed in the user namespace (no `builtins` in sight). It gains nothing
# here (the hidden np.testing check still fails) but the hook is active, and that is caught.
# assignment: 95-checks
# base: blank
# expect: tampered 0
# without the decoys this scored: 0
isinstance = lambda obj, cls: True
len = lambda obj: 2


def mean_std(xs):
    return None
