# Replace showtraceback so failures print nothing: nbgrader still sees the error reply, scores 0.
# assignment: 90-tiny
# base: blank
# expect: graded 0
# without the decoys this scored: 0
get_ipython().showtraceback = lambda *args, **kwargs: None
