from lifecycle.cli import app

app(prog_name="lifecycle")
