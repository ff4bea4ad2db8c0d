# isinstance and len shadowed in the user namespace (no `builtins` in sight).
# assignment: 95-checks
# base: blank
# expect: tampered 0
isinstance = lambda obj, cls: True
len = lambda obj: 2
def mean_std(xs):
    return None
