# exec of base64: the AST transformer of ast_strip_asserts.py, encoded; nothing readable in the cell.
# assignment: 90-tiny
# base: blank
# expect: tampered 0
# without the decoys this scored: 6
import base64

exec(
    base64.b64decode(
        "aW1wb3J0IGFzdApjbGFzcyBfVChhc3QuTm9kZVRyYW5zZm9ybWVyKToKICAgIGRlZiB2aXNpdF9Bc3NlcnQoc2VsZiwgbm9kZSk6CiAgICAgICAgcmV0dXJuIGFzdC5jb3B5X2xvY2F0aW9uKGFzdC5QYXNzKCksIG5vZGUpCmdldF9pcHl0aG9uKCkuYXN0X3RyYW5zZm9ybWVycy5hcHBlbmQoX1QoKSkK"
    ).decode()
)
