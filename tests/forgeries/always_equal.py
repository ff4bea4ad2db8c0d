# Answers that equal everything: a float whose __eq__ is always True and whose difference is 0.
# assignment: 90-tiny
# base: blank
# expect: tampered 0
# without the decoys this scored: 6
class Yes(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__

    def __sub__(self, other):
        return 0.0


def square(x):
    return Yes()


def circle_area(r):
    return Yes()


q_pick = Yes()
