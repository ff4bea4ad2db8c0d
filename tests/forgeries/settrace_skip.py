# A sys.settrace function that tries to jump over every line starting with `assert` in cell code.
# It does not pay: IPython compiles each top-level statement of a cell as its own code object, so
# there is no next line to jump to; the checks fail as usual (the probe still reports the tracer).
# assignment: 90-tiny
# base: blank
# expect: graded 0
# without the decoys this scored: 0
import linecache
import sys


def _tracer(frame, event, arg):
    if frame.f_code.co_name != "<module>":  # only the code of cells
        return None

    def _line(frame, event, arg):
        if event == "line":
            text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).lstrip()
            if text.startswith("assert"):
                try:
                    frame.f_lineno = frame.f_lineno + 1
                except ValueError:
                    pass
        return _line

    return _line


sys.settrace(_tracer)
