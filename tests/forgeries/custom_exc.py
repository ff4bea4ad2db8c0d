# set_custom_exc swallowing AssertionError and NameError: the reply is still an error, scores 0.
# assignment: 90-tiny
# base: blank
# expect: graded 0
# without the decoys this scored: 0
get_ipython().set_custom_exc((AssertionError, NameError), lambda shell, etype, value, tb, tb_offset=None: None)
