"""nbgrader settings for the course (read by `nbgrader ...` run from the repository root)."""

import os

c = get_config()  # noqa: F821  (provided by nbgrader/traitlets)

# The repository root is the course directory: source/ID, release/ID, submitted/, autograded/.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "dp100-local"
# nbgrader's exchange (release/collect between accounts) lives in the course, not /usr/local/share;
# on the workshop hub (hub/), DP100_EXCHANGE names the shared root-owned exchange instead.
if os.environ.get("DP100_EXCHANGE"):
    c.Exchange.root = os.environ["DP100_EXCHANGE"]
else:
    c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
    os.makedirs(c.Exchange.root, exist_ok=True)
# Generated notebooks and the gradebook are reproducible; never copy solution helpers into release/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*", "workspace*", "mlruns*"]

# Every notebook runs on the course kernel (the .venv's python3, registered by `make`).
c.Execute.kernel_name = "python3"
c.Execute.timeout = 120  # seconds per cell; a whole solution notebook runs in < 45 s
c.Execute.interrupt_on_timeout = True

# A deleted test cell is restored from the source instead of silently scoring 0.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores a test cell 0 if it wrote anything to stderr. Library warnings (pandas, sklearn,
# mlflow, SQLAlchemy...) are harmless there: drop stderr outputs that are warnings or log lines.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?m)Warning|warnings\.warn|^\s*(INFO|WARNING|DEBUG)\b|^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARNING)"
)
