"""autograder: grade a whole class of nbgrader submissions in CI, fast, isolated and bounded.

nbgrader is the grading engine (its gradebook, checksums, preprocessors and feedback template);
this package is the layer around it: parallel workers with one gradebook each (merged after),
per-cell and whole-notebook time limits, a memory cap, a sandboxed kernel per submission
(own uid, hidden course, clean environment), tamper detection, robust intake of bad files, and
feedback with hidden tests redacted. See docs/grading.md.

    python -m autograder grade SUBMISSIONS --assignment ID --out OUT [--jobs N] ...
"""
