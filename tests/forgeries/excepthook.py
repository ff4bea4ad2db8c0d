# sys.excepthook swallowing everything: IPython does not use it for cell errors, scores 0.
# assignment: 90-tiny
# base: blank
# expect: graded 0
# without the decoys this scored: 0
import sys

sys.excepthook = lambda *args: None
